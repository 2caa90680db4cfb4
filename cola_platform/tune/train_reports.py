"""Forwarding a trial's Ray Train reports to Tune: every report except the run's last.

Ray Tune's `TuneReportCallback` forwards every Ray Train report to the trial. The last one (the
final checkpoint) carries the full budget in the trial's time attribute, and ASHA answers a result
at `max_t` with STOP: Tune then ends the trial while its Ray Train run is still exporting the model,
and the trial never evaluates its model or writes `trial.json`. The trial function reports its
final metrics itself once everything is written, so the last Ray Train report is not forwarded.
"""

from __future__ import annotations

from typing import Any

from ray.tune.integration.ray_train import TuneReportCallback


class IntermediateTuneReports(TuneReportCallback):
    """`TuneReportCallback` that drops reports at or after `final_step` (the run's last checkpoint)."""

    def __init__(self, final_step: int):
        super().__init__()
        self.final_step = final_step

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        """Forward rank 0's metrics to the trial unless this is the run's final report."""
        if metrics and int(metrics[0].get("step", 0)) >= self.final_step:
            return
        super().after_report(run_context, metrics, checkpoint)
