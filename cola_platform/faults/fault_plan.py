"""`FaultPlan`: a deliberate failure a Ray Train worker fires at a step (drills and tests only).

The driver passes it through `DistributedOptions.fault`; production runs carry `None`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaultPlan:
    """A deliberate failure for fault-tolerance drills and tests, fired once per marker file.

    On rank `rank`, when the train record of `step` is logged and `marker` does not exist yet, the
    worker writes its pid to `marker` and then either raises (`action="raise"`) or waits up to
    `hang_seconds` to be killed from outside (`action="hang"`, e.g. `kill -9 $(cat marker)`).
    """

    step: int
    rank: int
    marker: str
    action: str = "raise"
    hang_seconds: float = 120.0

    def sink(self) -> Callable[[dict[str, Any]], None]:
        """The on_record hook that fires the fault."""

        def fire(record: dict[str, Any]) -> None:
            if record.get("step") != self.step or "loss" not in record or Path(self.marker).exists():
                return
            Path(self.marker).write_text(str(os.getpid()))
            if self.action == "hang":
                log.warning(
                    "fault drill: rank %d (pid %d) waits to be killed at step %d", self.rank, os.getpid(), self.step
                )
                time.sleep(self.hang_seconds)
            raise RuntimeError(f"fault drill: rank {self.rank} fails at step {self.step}")

        return fire
