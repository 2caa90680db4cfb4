"""Reading numbers out of result records."""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def finite(x: Any) -> TypeGuard[float]:
    """A real, finite number (not a bool, None, NaN or a string)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def points_of(points: list[dict], family: str, budget: float | None = None, metric: str = "") -> list[dict]:
    """The result rows of one family (at one budget, if given; with a finite `metric`, if named), in order."""
    return [
        p
        for p in points
        if p["family"] == family and (budget is None or p["budget"] == budget) and (not metric or finite(p.get(metric)))
    ]
