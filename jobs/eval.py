"""Evaluate a finished run: few-shot generative tasks, likelihood-ranked minimal pairs, storyworld quality,
likelihoods side by side.

    python -m jobs.eval --run runs/ar-small --tasks sw-lambada,sw-cloze,sw-qa,sw-quality --out runs/ar-small/eval.json
    python -m jobs.eval --run runs/ar-small --tasks sw-order,sw-agreement --items 300 --out pairs.json
    python -m jobs.eval --run RUN --tasks-file ../shared/data/paper-eval-tasks/lambada.jsonl --out eval.json
    python -m jobs.eval --run RUN --paper-tasks ../shared/data/paper-eval-tasks --out RUN/paper/eval.json
    python -m jobs.score --generations generations --out scores     # re-score what jobs.eval wrote

Every generation is written in the official layout (`generations/<task>.jsonl` next to --out, or
--generations DIR), which `jobs.score` scores to the same accuracies. With patch size p > 1 each
item records `prompt_len_mod_patch_size` and each task gets an accuracy per remainder (`<task>_mod<r>`).
Likelihood-ranked tasks (`sw-order`, `sw-agreement`, task files of type `ranked`) generate nothing: the
choice the family's token likelihood prefers is the answer (chance is printed next to the accuracy); a
family without one (Cola) skips them and the record says why (`skipped_tasks`).

Accuracies come with binomial standard errors; the record also holds the sampler settings, wall
time and tokens/s. With a tracking server configured (run.tracking_uri or MLFLOW_TRACKING_URI) the
numbers are logged to the run's MLflow run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from cola_core.config import apply_overrides
from cola_core.config_text import parse_set_args
from cola_core.config_checks import validate
from cola_core.eval.tasks import BUILTIN_TASKS, KNOWN_TASKS
from cola_core.utils.io import atomic_write_json
from cola_platform.paths import project_path
from jobs._cli import Parser, positive_int, run_main, setup_logging

log = logging.getLogger("jobs.eval")


def build_parser() -> Parser:
    p = Parser(prog="jobs.eval", description=__doc__)
    p.add_argument("--run", required=True, help="finished run directory")
    p.add_argument(
        "--tasks",
        help=f"comma list from {', '.join(KNOWN_TASKS)} ('' for none; default: {', '.join(BUILTIN_TASKS)}, "
        "or none with --paper-tasks)",
    )
    p.add_argument(
        "--tasks-file", action="append", default=[], help="JSONL task file (ours or the paper harness's), repeatable"
    )
    p.add_argument(
        "--paper-tasks",
        metavar="DIR",
        help="directory holding the paper's eight task files (lambada.jsonl ... story_cloze.jsonl): run all eight",
    )
    p.add_argument("--out", required=True, help="where to write the eval JSON")
    p.add_argument("--items", type=int, default=1000, help="items per built-in task (the paper: 1000)")
    p.add_argument(
        "--k-shot", type=int, help="demonstrations per prompt (default per task type: lambada 0, MC 2, QA 1)"
    )
    p.add_argument("--max-new-tokens", type=positive_int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quality-temperature",
        type=float,
        default=1.0,
        help="sampling temperature of the sw-quality samples (the tasks decode greedily)",
    )
    p.add_argument(
        "--generations",
        metavar="DIR",
        help="where to write the generations as <task>.jsonl (default: generations/ next to --out; '' for none)",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="sampler.* override, repeatable")
    return p


def print_table(record: dict) -> None:
    """A short human-readable summary on stdout."""
    print(f"{record['family']} ({record['preset']}): {record['run']}")
    for name, r in record["tasks"].items():
        extra = f"  F1 {r['f1']:.3f}" if r.get("f1") is not None else ""
        extra += f"  ({r['truncated_prompts']} prompts left-truncated)" if r.get("truncated_prompts") else ""
        how = f"likelihood-ranked, chance {r['chance']:.2f}" if r.get("chance") is not None else f"{r['k_shot']}-shot"
        print(f"  {name:14} acc {r['accuracy']:.3f} ± {r['stderr']:.3f}  (n={r['n']}, {how}){extra}")
        for rem, s in (r.get("by_remainder") or {}).items():
            print(f"  {name + '_mod' + rem:14} acc {s['accuracy']:.3f} ± {s['stderr']:.3f}  (n={s['n']})")
    for name, reason in (record.get("skipped_tasks") or {}).items():
        print(f"  {name:14} skipped: {reason}")
    if record.get("quality"):
        q = record["quality"]
        print(
            f"  {'sw-quality':14} valid {q['valid']:.3f} ± {q['valid_stderr']:.3f}  "
            f"consistent {q['consistent']:.3f}  "
            f"distinct-2 {q['distinct_2']:.3f}  self-BLEU {q['self_bleu']:.3f}"
        )
    if record.get("continuation"):
        c = record["continuation"]
        print(
            f"  {'continuation':14} acc {c['accuracy']:.3f} ± {c['stderr']:.3f}  (n={c['n']}, next {c['new_tokens']} tokens)"
        )
        for rem, s in c["by_remainder"].items():
            print(f"  {'continuation_mod' + rem:14} acc {s['accuracy']:.3f} ± {s['stderr']:.3f}  (n={s['n']})")
    for k, v in record.get("likelihood", {}).items():
        print(f"  {k:28} {v:.4f}")
    if record.get("diagnostics"):
        print(f"  diagnostics (readable metric: {record['readable_metric']}, lower is better)")
        for k, v in record["diagnostics"].items():
            print(f"  {k:28} {v:.4f}")


def default_generations_dir(out: str | Path) -> Path:
    """`generations/` in the directory of the eval JSON."""
    return Path(out).parent / "generations"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cola_platform.evaluation import EvalRequest, evaluate_run, flat_metrics, paper_task_files
    from cola_platform.training.export import load_run

    setup_logging()
    tasks = args.tasks if args.tasks is not None else "" if args.paper_tasks else ",".join(BUILTIN_TASKS)
    files = [*args.tasks_file, *(paper_task_files(project_path(args.paper_tasks)) if args.paper_tasks else [])]
    loaded = load_run(project_path(args.run))
    args.out = project_path(args.out)
    generations = default_generations_dir(args.out) if args.generations is None else args.generations
    overrides = parse_set_args(args.set)
    loaded.cfg = validate(apply_overrides(loaded.cfg, {"sampler.temperature": 0.0, **overrides}))
    req = EvalRequest(
        tasks=[t for t in tasks.split(",") if t],
        task_files=files,
        items=args.items,
        max_new_tokens=args.max_new_tokens,
        k_shot=args.k_shot,
        seed=args.seed,
        quality_temperature=args.quality_temperature,
        generations_dir=project_path(str(generations)) if generations else None,
    )
    record = evaluate_run(loaded, req)
    record["metrics"] = flat_metrics(record)
    atomic_write_json(Path(args.out), record)
    from cola_platform.tracking.eval_logging import log_eval_to_mlflow

    log_eval_to_mlflow(loaded, record, args.out, overrides)
    print_table(record)
    print(f"eval: {args.out}")
    if record.get("generations"):
        gens = Path(record["generations"])
        print(f"generations: {gens}")
        print(f"  re-score: python -m jobs.score --generations {gens} --out {gens.parent / 'scores'}")
    return 0


if __name__ == "__main__":
    run_main(main)
