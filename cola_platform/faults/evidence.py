"""Reading what a drill's run left behind: result.json, its steps, its MLflow runs, HTTP status codes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from cola_platform.faults.inject import train_steps

EXPERIMENT = "fault-suite"
"""The MLflow experiment of every drill's runs (on the suite's own MLflow server)."""


def read_result(run_dir: Path) -> dict[str, Any]:
    """The run's result.json ({} when it has none)."""
    try:
        return json.loads((Path(run_dir) / "result.json").read_text())
    except (OSError, ValueError):
        return {}


def steps_once(run_dir: Path, steps: int) -> tuple[bool, str]:
    """(every step 1..steps logged exactly once in metrics.jsonl, a short account)."""
    logged = train_steps(Path(run_dir) / "metrics.jsonl")
    ok = logged == list(range(1, steps + 1))
    return ok, f"{len(logged)} train records for steps {min(logged, default=0)}..{max(logged, default=0)}" + (
        "" if ok else f", {len(logged) - len(set(logged))} duplicated"
    )


def mlflow_runs(uri: str, run_name: str, experiment: str = EXPERIMENT) -> list[tuple[str, str]]:
    """(run id, status) of the MLflow runs tagged `cola.run_name` = `run_name`, oldest first."""
    from cola_platform.tracking.mlflow_tracker import mlflow_client

    client = mlflow_client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`cola.run_name` = '{run_name}'",
        order_by=["attributes.start_time ASC"],
    )
    return [(r.info.run_id, r.info.status) for r in runs]


def metric_steps(uri: str, run_id: str, key: str = "loss") -> list[int]:
    """Steps at which MLflow run `run_id` holds metric `key`, sorted (duplicates kept)."""
    from cola_platform.tracking.mlflow_tracker import mlflow_client

    return sorted(m.step for m in mlflow_client(uri).get_metric_history(run_id, key))


def one_finished_run(uri: str, run_name: str, steps: int) -> tuple[bool, str]:
    """(exactly one MLflow run of `run_name`, FINISHED, its loss logged once at every step 1..steps, account)."""
    runs = mlflow_runs(uri, run_name)
    if len(runs) != 1:
        return False, f"{len(runs)} MLflow runs: {runs}"
    run_id, status = runs[0]
    logged = metric_steps(uri, run_id)
    ok = status == "FINISHED" and logged == list(range(1, steps + 1))
    return ok, f"1 MLflow run, {status}, loss at {len(logged)} steps ({len(logged) - len(set(logged))} duplicated)"


def http_status(url: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> int:
    """The HTTP status code GET `url` answers with (0 when nothing answers)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0
