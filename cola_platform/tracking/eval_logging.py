"""Logging evaluation numbers into the MLflow run a training run already has (never fails the caller)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from cola_platform.tracking.mlflow_tracker import RUN_FILE, mlflow_client, probe, tracking_uri, warn_once
from cola_platform.training.export import LoadedRun

log = logging.getLogger(__name__)


def _run_id(loaded: LoadedRun) -> str:
    try:
        return json.loads((loaded.run.root / RUN_FILE).read_text()).get("run_id", "")
    except (OSError, ValueError):
        return ""


def _log(loaded: LoadedRun, metrics: dict[str, Any], tags: dict[str, str], artifact: str = "") -> None:
    uri, run_id = tracking_uri(loaded.cfg), _run_id(loaded)
    if not uri or not run_id:
        return
    if probe(uri):
        warn_once(f"mlflow-down:{uri}", "MLflow is unreachable; evaluation numbers stay in the JSON files only")
        return
    try:
        client = mlflow_client(uri)
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                client.log_metric(run_id, key, float(value))
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        if artifact:
            client.log_artifact(run_id, artifact)
    except Exception as err:
        warn_once(f"eval-log:{uri}", f"MLflow logging of evaluation failed ({type(err).__name__}: {err})")


def log_eval_to_mlflow(
    loaded: LoadedRun, record: dict[str, Any], path: str = "", overrides: dict[str, Any] | None = None
) -> None:
    """`jobs.eval`: the flat metrics (task accuracies, quality, likelihood) and the eval JSON. Numbers measured
    with `--set` sampler overrides are logged under a prefix that names them (`sampler.steps:8/sw_qa_acc`), so
    they never stand in for the run's own settings' numbers."""
    prefix = "".join(f"{k}:{v}/" for k, v in sorted((overrides or {}).items()))
    _log(loaded, {prefix + k: v for k, v in record.get("metrics", {}).items()}, {}, path)


POINT_PREFIX = "point/"
"""Scaling-point numbers are logged under this prefix: names like `flops` or `eval_loss` also exist as
per-step training metrics of the run, and MLflow's latest value of those is one stage's, not the point's."""


def log_point_to_mlflow(loaded: LoadedRun, point: dict[str, Any]) -> None:
    """A scaling point: its metrics and compute on the final stage's run, tagged for `jobs.report`."""
    tags = {
        "family": point["family"],
        "preset": point["preset"],
        "budget_flops": f"{point['budget']:.6g}",
        "cola.point": "true",
        "cola.point_dir": Path(point["directory"]).name,
        "cola.readable_name": str(point.get("readable_name", "")),
    }
    _log(loaded, {f"{POINT_PREFIX}{k}": v for k, v in point.items()}, tags)
