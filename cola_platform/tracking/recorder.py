"""The run recorder: a small Ray actor on the driver's node that receives rank 0's metrics records.

Workers may run on other nodes than the run directories, so rank 0 does not write files itself: it
sends each record here (fire-and-forget, ordered), and the recorder appends it to the stage's
RUN_DIR/metrics.jsonl and logs it to the stage's MLflow run. One Ray Train run trains one or more
stages (Cola's Stage 1 and Stage 2 share a worker group), each with its own run directory.

It also counts starts per stage: every time a worker group starts (or resumes) a stage it calls
`attempt_started(stage, resume_step)`, which truncates that stage's metrics.jsonl past the restored
step (so no step appears twice) and makes records from an older, dead attempt be ignored. A rank
that hits a deterministic error calls `stop`; ranks ask `stopped` before a stage, so an attempt
restarted after such an error ends at once and the driver reports the error once. When a
stage's loop ends, its summary is kept in RUN_DIR/loop_summary.json as well, so a stage finished
before an interruption still has its summary when a re-run skips straight to the next stage. Rank 0
also marks phase boundaries (`mark`: worker entry, engine ready, first step, loop end) so the
driver can say where a run's wall time went. The driver reads `report()` after `fit()` for the
summaries, restarts and marks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cola_core.utils.io import atomic_write_json
from cola_platform.tracking.mlflow_tracker import MlflowTracker, NullTracker, Tracker, TrackingInfo
from cola_platform.training.run_dir import MetricsLog, RunDir

log = logging.getLogger(__name__)
SUMMARY_FILE = "loop_summary.json"


class StageRecord:
    """What the recorder keeps for one stage: its files, tracker and attempts."""

    def __init__(self, run_dir: str, tracking: TrackingInfo | None):
        self.run = RunDir(Path(run_dir))
        self.tracking = tracking
        self.tracker: Tracker = NullTracker()
        self.resume_steps: list[int] = []
        self.metrics: MetricsLog | None = None
        self.summary: dict[str, Any] | None = None
        self.error = ""
        self.marks: dict[str, float] = {}
        saved = self.run.root / SUMMARY_FILE
        if saved.is_file():  # the stage finished in an earlier fit of this run
            earlier = json.loads(saved.read_text())
            self.summary, self.resume_steps = earlier["summary"], list(earlier["resume_steps"])


class RunRecorder:
    """metrics.jsonl + MLflow sink of every stage of a distributed run, and their attempt bookkeeping."""

    def __init__(self, stages: list[tuple[str, TrackingInfo | None]]):
        self.stages = [StageRecord(run_dir, tracking) for run_dir, tracking in stages]
        self.run_marks: dict[str, float] = {}

    def mark(self, stage: int | None, name: str, when: float) -> None:
        """Rank 0 reached phase boundary `name` at wall-clock time `when` (of the run when `stage` is None)."""
        (self.run_marks if stage is None else self.stages[stage].marks)[name] = when

    def attempt_started(self, stage: int, resume_step: int) -> int:
        """A worker group started `stage` from `resume_step`; returns the stage's attempt number (0 = first)."""
        s = self.stages[stage]
        s.resume_steps.append(int(resume_step))
        s.metrics = MetricsLog(s.run.metrics, int(resume_step))
        s.summary = None  # a deterministic error (`stop`) outlives the attempt: the next one must not retry it
        if s.tracking is not None and isinstance(s.tracker, NullTracker):
            s.tracker = MlflowTracker.attach(s.tracking)
        if len(s.resume_steps) > 1:
            log.warning("stage %d restarted (attempt %d) from step %d", stage, len(s.resume_steps) - 1, resume_step)
        return len(s.resume_steps) - 1

    def record(self, stage: int, attempt: int, record: dict[str, Any]) -> None:
        """Append one metrics record of the stage's current attempt (records of older attempts are dropped)."""
        s = self.stages[stage]
        if attempt != len(s.resume_steps) - 1 or s.metrics is None:
            return
        s.metrics(record)
        s.tracker.log_record(record)

    def finished(self, stage: int, attempt: int, summary: dict[str, Any]) -> None:
        """The loop of the stage's `attempt` ended with `summary` (a LoopResult as a dict)."""
        s = self.stages[stage]
        if attempt == len(s.resume_steps) - 1:
            s.summary = summary
            atomic_write_json(s.run.root / SUMMARY_FILE, {"summary": summary, "resume_steps": s.resume_steps})

    def stop(self, stage: int, message: str) -> None:
        """A rank hit a deterministic error in `stage` (a diverged loss, an unreadable shard) that a restart
        would repeat; the first message is kept, and every later attempt of the run ends at once."""
        self.stages[stage].error = self.stages[stage].error or message

    def stopped(self, stage: int) -> str:
        """The deterministic error that ended `stage`, or '' (asked by every rank before it starts the stage)."""
        return self.stages[stage].error

    def report(self) -> list[dict[str, Any]]:
        """What the driver needs for each stage's result.json (or the error that ended it)."""
        return [
            {
                "resume_steps": list(s.resume_steps),
                "summary": s.summary,
                "error": s.error,
                "marks": dict(s.marks),
                "run_marks": dict(self.run_marks),
            }
            for s in self.stages
        ]


def start_recorder(stages: list[tuple[Path, TrackingInfo | None]]) -> Any:
    """Create the recorder actor on this (the driver's) node, using no CPU: one (run dir, tracking) per stage."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    actor = ray.remote(num_cpus=0, max_restarts=0)(RunRecorder)
    return actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(
        [(str(Path(run_dir).absolute()), tracking) for run_dir, tracking in stages]
    )
