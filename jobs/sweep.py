"""Run a sweep study (Ray Tune + Optuna/ASHA; every trial drives its own Ray Train run).

    python -m jobs.sweep --study studies/rq1_latent_dim_vs_loc_tiny.toml
    ray job submit --working-dir . -- python -m jobs.sweep --study studies/hpo_coupled_tiny.toml

Re-running the same study resumes it: finished trials are not recomputed. The summary goes to
OUT/result.json, OUT/summary.md, OUT/plots/ and the study's MLflow parent run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from cola_platform.paths import project_path
from jobs._cli import Parser, run_main, setup_logging
from sweeps.study import load_sweep_study


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="jobs.sweep", description=__doc__)
    p.add_argument("--study", required=True, help="sweep study TOML (studies/*.toml)")
    p.add_argument("--out", help="study directory (default: runs/sweeps/<study name>)")
    p.add_argument("--check", action="store_true", help="validate the study file and its space, then exit")
    args = p.parse_args(argv)
    setup_logging()
    study = load_sweep_study(args.study)
    study.data, study.checkpoint = project_path(study.data), project_path(study.checkpoint)
    if args.check:
        from cola_platform.tune.runner import study_base

        study_base(study)
        print(
            json.dumps(
                {
                    "study": study.name,
                    "ok": True,
                    "params": list(study.space.params),
                    "derived": list(study.space.derived),
                }
            )
        )
        return 0
    from cola_platform.tune.runner import run_sweep  # Ray Tune and torch: not needed for --help or bad input

    out = Path(project_path(args.out or str(Path("runs") / "sweeps" / study.name)))
    summary = run_sweep(study, out)
    best = summary["best"] or {}
    print(
        json.dumps(
            {
                "study": study.name,
                "n_trials": summary["n_trials"],
                "n_failed": summary["n_failed"],
                "best_value": summary["best_value"],
                "best_run": best.get("run"),
                "monotonic_drift": summary.get("rq1", {}).get("monotonic_drift"),
            }
        )
    )
    print(f"summary: {out / 'summary.md'}")
    print(f"result: {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    run_main(main)
