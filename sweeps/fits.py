"""Scaling-law fits: power laws of a metric against compute, isoFLOP parabolas, crossovers.

- `fit_power_law`: metric = A * C^alpha by least squares in log-log space, with R^2 and a
  bootstrap interval for alpha.
- `fit_isoflop`: per budget, a robust (Huber) quadratic of loss against log10(params); its vertex is
  the compute-optimal size N*(C); then N* = k * C^a across budgets (Chinchilla approach 2).
- `crossover`: the budget where one family's power law overtakes another's, with a bootstrap
  interval (None when the fitted lines do not cross within the extrapolation range).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import least_squares


@dataclass
class PowerLaw:
    alpha: float
    log10_a: float
    r2: float
    alpha_ci: tuple[float, float]
    n: int

    def predict(self, compute: np.ndarray | float) -> np.ndarray:
        return 10 ** (self.log10_a + self.alpha * np.log10(compute))

    def to_dict(self) -> dict:
        return asdict(self)


def _linfit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    slope, icpt = np.polyfit(x, y, 1)
    pred = slope * x + icpt
    ss_res, ss_tot = float(np.sum((y - pred) ** 2)), float(np.sum((y - y.mean()) ** 2))
    return float(slope), float(icpt), 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0


def fit_power_law(compute: list[float], metric: list[float], n_boot: int = 500, seed: int = 0) -> PowerLaw:
    """metric = A * C^alpha; needs >= 2 points with positive values."""
    c, m = np.asarray(compute, float), np.asarray(metric, float)
    keep = (c > 0) & (m > 0) & np.isfinite(m)
    c, m = c[keep], m[keep]
    if len(c) < 2 or len(np.unique(c)) < 2:
        raise ValueError("a power-law fit needs at least two distinct budgets with positive metric values")
    x, y = np.log10(c), np.log10(m)
    slope, icpt, r2 = _linfit(x, y)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(x), len(x))
        if len(np.unique(x[idx])) >= 2:
            boots.append(np.polyfit(x[idx], y[idx], 1)[0])
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots else (slope, slope)
    return PowerLaw(alpha=slope, log10_a=icpt, r2=r2, alpha_ci=ci, n=len(x))


@dataclass
class IsoFlop:
    budget: float
    optimal_params: float
    loss_at_optimum: float
    curvature: float
    n: int


def robust_quadratic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Huber-loss quadratic fit y ~ a x^2 + b x + c; returns (a, b, c)."""
    start = np.polyfit(x, y, 2)
    scale = max(float(np.std(y)), 1e-6)
    res = least_squares(lambda p: np.polyval(p, x) - y, start, loss="huber", f_scale=0.1 * scale)
    return res.x


def fit_isoflop(budget: float, params: list[float], loss: list[float]) -> IsoFlop | None:
    """The compute-optimal size of one budget (None if < 3 sizes or the parabola is not convex)."""
    x, y = np.log10(np.asarray(params, float)), np.asarray(loss, float)
    if len(np.unique(x)) < 3:
        return None
    a, b, c = robust_quadratic(x, y)
    if a <= 0:
        return None
    xv = float(np.clip(-b / (2 * a), x.min(), x.max()))
    return IsoFlop(
        budget=budget,
        optimal_params=10**xv,
        loss_at_optimum=float(np.polyval([a, b, c], xv)),
        curvature=float(a),
        n=len(x),
    )


def fit_optimal_size(isoflops: Sequence[IsoFlop | None]) -> PowerLaw | None:
    """N*(C) = k * C^a across budgets (None with fewer than two usable budgets)."""
    usable = [f for f in isoflops if f is not None]
    if len(usable) < 2:
        return None
    return fit_power_law([f.budget for f in usable], [f.optimal_params for f in usable])


@dataclass
class Crossover:
    budget: float | None
    budget_ci: tuple[float, float] | None
    fraction_crossing: float
    """Share of bootstrap replicates in which the lines cross inside the range."""


def _cross(a: tuple[float, float], b: tuple[float, float]) -> float | None:
    (sa, ia), (sb, ib) = a, b
    if abs(sa - sb) < 1e-12:
        return None
    return (ib - ia) / (sa - sb)


def crossover(
    compute_a: list[float],
    metric_a: list[float],
    compute_b: list[float],
    metric_b: list[float],
    higher_is_better: bool,
    log10_range: tuple[float, float] = (0.0, 30.0),
    n_boot: int = 500,
    seed: int = 0,
) -> Crossover:
    """Budget where family A overtakes family B (A better above it), from log-log line fits."""
    xa, ya = np.log10(compute_a), np.log10(metric_a)
    xb, yb = np.log10(compute_b), np.log10(metric_b)
    lo, hi = log10_range

    def overtakes(fa, fb) -> float | None:
        x = _cross(fa, fb)
        if x is None or not lo <= x <= hi:
            return None
        # A must be the better one *after* the crossing
        after = x + 1.0
        va, vb = fa[0] * after + fa[1], fb[0] * after + fb[1]
        return x if (va > vb) == higher_is_better else None

    point = overtakes(tuple(np.polyfit(xa, ya, 1)), tuple(np.polyfit(xb, yb, 1)))
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(n_boot):
        ia, ib = rng.integers(0, len(xa), len(xa)), rng.integers(0, len(xb), len(xb))
        if len(np.unique(xa[ia])) < 2 or len(np.unique(xb[ib])) < 2:
            continue
        x = overtakes(tuple(np.polyfit(xa[ia], ya[ia], 1)), tuple(np.polyfit(xb[ib], yb[ib], 1)))
        if x is not None:
            found.append(x)
    ci = (10 ** float(np.percentile(found, 2.5)), 10 ** float(np.percentile(found, 97.5))) if found else None
    return Crossover(
        budget=None if point is None else 10**point, budget_ci=ci, fraction_crossing=len(found) / max(n_boot, 1)
    )


def relative_error(a: float, b: float) -> float:
    """|a - b| / |b|."""
    return abs(a - b) / abs(b) if b else math.inf
