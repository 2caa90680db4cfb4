"""Reading a study back from the MLflow server alone (what `jobs.report` rebuilds reports from)."""

from __future__ import annotations

import json
from typing import Any

from cola_platform.errors import UserError
from cola_platform.tracking.eval_logging import POINT_PREFIX
from cola_platform.tracking.mlflow_tracker import mlflow_client, probe
from cola_platform.tracking.redact import redact_uri
from cola_platform.tracking.study_runs import PARENT_TAG


def _param(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def retire_stale_points(uri: str, study: str, current: set[str]) -> int:
    """Tag point runs of `study` that are not in its current plan `cola.point=stale` (a changed study
    file leaves them behind), so `jobs.report` rebuilds exactly the study's current points. Returns
    how many were retired; never raises (tracking must not fail a study)."""
    if not uri or probe(uri):
        return 0
    try:
        client = mlflow_client(uri)
        exp = client.get_experiment_by_name(study)
        if exp is None:
            return 0
        runs = client.search_runs([exp.experiment_id], filter_string="tags.`cola.point` = 'true'", max_results=10000)
        stale = [r for r in runs if r.data.tags.get("cola.point_dir") not in current]
        for r in stale:
            client.set_tag(r.info.run_id, "cola.point", "stale")
        return len(stale)
    except Exception:  # noqa: BLE001 - best effort
        return 0


def fetch_scaling_points(uri: str, study: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(parent params, point records) of a scaling study from the tracking server."""
    if not uri:
        raise UserError("no tracking server: set MLFLOW_TRACKING_URI (source .cluster/env) or pass --tracking-uri")
    reason = probe(uri)
    if reason:
        raise UserError(f"MLflow at {redact_uri(uri)} is unreachable ({reason})")
    client = mlflow_client(uri)
    exp = client.get_experiment_by_name(study)
    if exp is None:
        raise UserError(f"MLflow at {redact_uri(uri)} has no experiment {study!r}; run the study first")
    parents = client.search_runs([exp.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = 'true'", max_results=1)
    if not parents:
        raise UserError(f"experiment {study!r} has no study parent run")
    params = {k: _param(v) for k, v in parents[0].data.params.items()}
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`cola.point` = 'true'", max_results=10000)
    points = []
    for run in runs:
        m, tags = run.data.metrics, run.data.tags
        record: dict[str, Any] = {k[len(POINT_PREFIX) :]: v for k, v in m.items() if k.startswith(POINT_PREFIX)}
        if "budget" not in record:
            continue  # a point whose evaluation did not finish
        record.update(
            family=tags.get("family", ""),
            preset=tags.get("preset", ""),
            readable_name=tags.get("cola.readable_name", ""),
        )
        points.append(record)
    return params, points
