"""The run recorder: a small Ray actor on the driver's node that receives rank 0's metrics records.

Workers may run on other nodes than the run directory, so rank 0 does not write files itself: it
sends each record here (fire-and-forget, ordered), and the recorder appends it to
RUN_DIR/metrics.jsonl and logs it to MLflow. It also counts worker-group starts: every start
(first attempt, or a FailureConfig restart) calls `attempt_started(resume_step)`, which truncates
metrics.jsonl past the restored step (so no step appears twice) and makes records from an older,
dead attempt be ignored. The driver reads `report()` after `fit()` for `restarts` and the loop
summary.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cola_platform.tracking.mlflow_tracker import MlflowTracker, NullTracker, TrackingInfo
from cola_platform.training.run_dir import MetricsLog, RunDir

log = logging.getLogger(__name__)


class RunRecorder:
    """metrics.jsonl + MLflow sink for a distributed run, and its attempt bookkeeping."""

    def __init__(self, run_dir: str, tracking: TrackingInfo | None):
        self.run = RunDir(Path(run_dir))
        self.tracking = tracking
        self.tracker: MlflowTracker | NullTracker = NullTracker()
        self.resume_steps: list[int] = []
        self.metrics: MetricsLog | None = None
        self.summary: dict[str, Any] | None = None

    def attempt_started(self, resume_step: int) -> int:
        """A worker group started from `resume_step`; returns its attempt number (0 = first)."""
        self.resume_steps.append(int(resume_step))
        self.metrics = MetricsLog(self.run.metrics, int(resume_step))
        if self.tracking is not None and isinstance(self.tracker, NullTracker):
            self.tracker = MlflowTracker.attach(self.tracking)
        if len(self.resume_steps) > 1:
            log.warning("worker group restarted (attempt %d) from step %d", len(self.resume_steps) - 1, resume_step)
        return len(self.resume_steps) - 1

    def record(self, attempt: int, record: dict[str, Any]) -> None:
        """Append one metrics record of the current attempt (records of older attempts are dropped)."""
        if attempt != len(self.resume_steps) - 1 or self.metrics is None:
            return
        self.metrics(record)
        self.tracker.log_record(record)

    def finished(self, attempt: int, summary: dict[str, Any]) -> None:
        """The loop of `attempt` ended with `summary` (a LoopResult as a dict)."""
        if attempt == len(self.resume_steps) - 1:
            self.summary = summary

    def report(self) -> dict[str, Any]:
        """What the driver needs for result.json."""
        return {"resume_steps": list(self.resume_steps), "summary": self.summary}


def start_recorder(run_dir: Path, tracking: TrackingInfo | None) -> Any:
    """Create the recorder actor on this (the driver's) node, using no CPU."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    actor = ray.remote(num_cpus=0, max_restarts=0)(RunRecorder)
    return actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(
        str(Path(run_dir).absolute()), tracking)
