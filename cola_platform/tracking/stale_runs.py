"""MLflow runs left RUNNING by a killed training process, ended as KILLED when their run directory trains again.

A process killed from outside (SIGKILL, the OOM killer, a lost node) cannot end its MLflow run, so
the run stays RUNNING. Every MLflow run a training run creates carries the tag `cola.run_dir` (the
run directory's absolute path), and a run directory is trained by one process at a time (its run
lock). So when a run directory trains again, every other MLflow run of that directory still RUNNING
belongs to a process that is gone: `end_stale_runs` marks it KILLED. The MLflow run the directory
continues (the one its `mlflow_run.json` names) flips back to RUNNING and ends as usual.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RUN_DIR_TAG = "cola.run_dir"
"""MLflow tag naming the run directory an MLflow run belongs to."""


def run_dir_tag(run_dir: Path) -> str:
    """The value of `RUN_DIR_TAG` for `run_dir` (its absolute path)."""
    return str(Path(run_dir).absolute())


def end_stale_runs(client: Any, experiment_id: str, run_dir: Path, keep_run_id: str) -> list[str]:
    """Mark KILLED every RUNNING MLflow run of `experiment_id` tagged with `run_dir` but `keep_run_id`.

    Call it only while holding the run directory's lock (no live process then logs into those runs).
    Returns the ids it ended.
    """
    tag = run_dir_tag(run_dir)
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)
    stale = [r.info.run_id for r in running if r.data.tags.get(RUN_DIR_TAG) == tag and r.info.run_id != keep_run_id]
    for run_id in stale:
        client.set_terminated(run_id, "KILLED")
    if stale:
        log.warning(
            "ended MLflow run(s) %s of %s as KILLED: left RUNNING by a training process that was killed",
            ", ".join(stale),
            tag,
        )
    return stale
