"""Run lm-eval-harness tasks on a finished run (any family) with the generative protocol.

    python -m jobs.lm_eval --run RUN --tasks lambada_openai --limit 200 --out results.json
    python -m jobs.lm_eval --run RUN --tasks my_task --include-path path/to/task_yamls --out results.json
    python -m jobs.lm_eval --run RUN --tasks wikitext --batch-size 32 --out results.json       (AR / LLaDA only)
    python -m jobs.lm_eval --run RUN --tasks my_task --gen-kwargs temperature=0.7,do_sample=True --out results.json

Generation follows each task's `generation_kwargs` (`until`, `max_gen_toks`, `temperature` / `do_sample`),
which `--gen-kwargs` overrides. Log-likelihood tasks (loglikelihood, loglikelihood_rolling,
multiple_choice) need a family with a token log-likelihood: AR (exact) or LLaDA (Monte Carlo bound).
"""

from __future__ import annotations

import json
from typing import Sequence

from cola_core.utils.io import atomic_write_json
from cola_platform.errors import UserError
from cola_platform.paths import project_path
from jobs._cli import Parser, positive_int, run_main, setup_logging


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="jobs.lm_eval", description=__doc__)
    p.add_argument("--run", required=True)
    p.add_argument("--tasks", required=True, help="comma-separated lm-eval task names")
    p.add_argument("--include-path", default="", help="directory of extra task YAMLs")
    p.add_argument("--limit", type=float, help="items per task (or a fraction)")
    p.add_argument("--num-fewshot", type=int)
    p.add_argument("--mc-num", type=positive_int, default=32, help="LLaDA log-likelihood MC samples")
    p.add_argument(
        "--batch-size", type=positive_int, default=16, help="most equal-length log-likelihood rows scored together"
    )
    p.add_argument(
        "--gen-kwargs",
        default="",
        help="generation settings for every generate_until task, "
        "e.g. temperature=0.7,do_sample=True,max_gen_toks=16 (override the tasks' own)",
    )
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    setup_logging()
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise UserError("lm-eval is not installed: pip install -e '.[eval]'") from None
    from cola_platform.lm_eval_adapter import PlatformLM

    model = PlatformLM(project_path(args.run), mc_num=args.mc_num, batch_size=args.batch_size)
    manager = TaskManager(include_path=project_path(args.include_path) or None)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise UserError(f"unknown lm-eval task(s) {', '.join(unknown)} (add --include-path for local task YAMLs)")
    results = simple_evaluate(
        model=model,
        tasks=tasks,
        task_manager=manager,
        limit=args.limit,
        num_fewshot=args.num_fewshot,
        log_samples=False,
        bootstrap_iters=0,
        gen_kwargs=args.gen_kwargs or None,
    )
    payload = {"run": args.run, "family": model.family, "results": results["results"]}
    atomic_write_json(project_path(args.out), payload)
    print(json.dumps(payload["results"], default=str))
    return 0


if __name__ == "__main__":
    run_main(main)
