"""Run a compute-matched scaling study: Cola vs AR vs LLaDA over budgets and matched sizes.

    python -m jobs.scaling --study studies/demo.toml --dry-run
    ray job submit --working-dir . -- python -m jobs.scaling --study studies/demo.toml

Steps come from the exact FLOPs accounting; every point trains on the Ray cluster, is evaluated with
the generative suite and likelihoods, and is logged to MLflow (one experiment per study). Re-submitting
trains nothing that already finished. OUT/result.json, OUT/report.md and OUT/plots/ hold the analysis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from cola_platform.paths import project_path
from jobs._cli import Parser, run_main, setup_logging
from sweeps.scaling_plan import load_scaling_study


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="jobs.scaling", description=__doc__)
    p.add_argument("--study", required=True, help="scaling study TOML (studies/demo.toml, studies/paper_2b.toml)")
    p.add_argument("--out", help="study directory (default: runs/scaling/<study name>)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (no data preparation, no training)")
    args = p.parse_args(argv)
    from cola_platform.scaling.runner import plan, plan_table, run_scaling  # torch, Ray: not for --help

    setup_logging()
    study = load_scaling_study(args.study)
    study.data = project_path(study.data)
    out = Path(project_path(args.out or str(Path("runs") / "scaling" / study.name)))
    if args.dry_run:
        runs, _ = plan(study, prepare=False)
        print(plan_table(study, runs, out))
        return 0
    summary = run_scaling(study, out)
    for row in summary["table"]:
        print(
            json.dumps(
                {
                    k: row[k]
                    for k in row
                    if k in ("budget", "family", "preset", "accuracy_mean", "nll_nats_per_token", "eval_loss")
                }
            )
        )
    print(f"report: {out / 'report.md'}")
    print(f"plot: {out / 'plots' / 'scaling_curves.png'}")
    print(f"result: {out / 'result.json'}")
    return 0 if not summary.get("n_failed") else 1


if __name__ == "__main__":
    run_main(main)
