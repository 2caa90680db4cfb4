"""Rebuild a scaling study's report from the MLflow server alone.

python -m jobs.report --study demo [--out runs/reports/demo]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from cola_platform.paths import project_path
from jobs._cli import Parser, run_main, setup_logging


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="jobs.report", description=__doc__)
    p.add_argument("--study", required=True, help="study name (its MLflow experiment)")
    p.add_argument("--out", help="report directory (default: runs/reports/<study>)")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", ""))
    args = p.parse_args(argv)
    from cola_platform.scaling.runner import build_report
    from cola_platform.tracking.study_query import fetch_scaling_points

    setup_logging()
    params, points = fetch_scaling_points(args.tracking_uri, args.study)
    out = Path(project_path(args.out or str(Path("runs") / "reports" / args.study)))
    families = params.get("families") or sorted({p["family"] for p in points})
    summary = build_report(
        args.study,
        points,
        families,
        params.get("loss_metric", "eval_loss"),
        params.get("quality_metric", "accuracy_mean"),
        out,
        thresholds=params.get("quality_thresholds") or None,
    )
    print(f"{len(summary['points'])} points from MLflow")
    print(f"report: {out / 'report.md'}")
    print(f"result: {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    run_main(main)
