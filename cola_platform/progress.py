"""Progress lines people can read: a count out of a total, the rate, and the time left.

Long jobs log, they do not draw bars: their output goes to Ray job logs, MLflow and files more often
than to a terminal, and a log line reads the same in all of them. One training sink serves the
in-process loop and the Ray Train workers alike.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

log = logging.getLogger("cola_platform.progress")


def format_duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `2 h 4 min`; `?` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def eta_seconds(done: float, total: float, elapsed: float) -> float:
    """Time left at the mean rate so far (nan before any progress)."""
    return elapsed * (total - done) / done if done > 0 else float("nan")


def training_progress(total_steps: int, logger: logging.Logger = log) -> Callable[[dict[str, Any]], None]:
    """A metrics sink logging one line per train record: `step 120/1295 (9 %) loss 2.31 lr 3.5e-03
    24,363 tok/s, ETA 1 min 12 s`, and eval records as `step N eval_loss X`. The ETA counts from the
    first record it sees, so a resumed run's earlier steps do not skew it."""
    first: list[tuple[int, float]] = []

    def sink(record: dict[str, Any]) -> None:
        if "loss" in record:
            step, now = int(record["step"]), time.monotonic()
            if not first:
                first.append((step, now))
            start_step, start = first[0]
            eta = eta_seconds(step - start_step, total_steps - start_step, now - start)
            logger.info(
                "step %d/%d (%.0f %%) loss %.4f lr %.2e %s tok/s, ETA %s",
                step,
                total_steps,
                100 * step / max(total_steps, 1),
                record["loss"],
                record["lr"],
                f"{record['tokens_per_second']:,.0f}",
                format_duration(eta),
            )
        elif "eval_loss" in record:
            logger.info("step %d eval_loss %.4f", record["step"], record["eval_loss"])

    return sink
