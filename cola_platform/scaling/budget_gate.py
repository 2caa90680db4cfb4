"""When a scaling study stops climbing a family's budgets: a wall-time cap, or the quality it was after.

Studies such as `studies/first_text.toml` double the budget until a family reaches a quality level,
each family capped at a share of the machine. Points then run in ascending budget order, and before
each one the gate looks at the family's finished points:

- the family has already reached `stop_quality` at a smaller budget: nothing left to learn here;
- its finished points took `time_cap_s` or more of wall time, or the next one would push it past the
  cap (estimated from its largest finished point, scaled by the budget ratio).

A skipped point is reported with its reason, so "not reached within the cap" is a measured statement.
The gate sees finished points only: run such studies with `max_concurrent = 1`, so that every smaller
budget of a family has finished when its next one is considered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sweeps.values import points_of


@dataclass(frozen=True)
class BudgetGate:
    """The stop rules of one study (0 disables a rule)."""

    time_cap_s: float = 0.0
    stop_quality: float = 0.0
    quality_metric: str = ""

    @property
    def active(self) -> bool:
        return self.time_cap_s > 0 or self.stop_quality > 0

    def skip_reason(self, family: str, budget: float, finished: list[dict[str, Any]]) -> str:
        """Why the point (`family`, `budget`) should not run given the finished points ("" to run it)."""
        mine = [p for p in points_of(finished, family) if p["budget"] < budget]
        if self.stop_quality > 0:
            reached = [p["budget"] for p in mine if _value(p, self.quality_metric) >= self.stop_quality]
            if reached:
                return f"{family} reached {self.quality_metric} >= {self.stop_quality:g} at {min(reached):.3g} FLOPs"
        if self.time_cap_s > 0 and mine:
            spent = sum(float(p.get("wall_seconds", 0.0)) for p in mine)
            largest = max(mine, key=lambda p: p["budget"])
            estimate = float(largest.get("wall_seconds", 0.0)) * budget / largest["budget"]
            if spent + estimate > self.time_cap_s:
                return (
                    f"{family} time cap: {spent / 60:.1f} min spent + ~{estimate / 60:.1f} min for this point "
                    f"> {self.time_cap_s / 60:.0f} min"
                )
        return ""


def _value(point: dict[str, Any], metric: str) -> float:
    v = point.get(metric)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("-inf")
