"""Reading numbers out of result records."""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def finite(x: Any) -> TypeGuard[float]:
    """A real, finite number (not a bool, None, NaN or a string)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
