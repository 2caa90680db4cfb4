"""RQ1: does the best noise location drift with the latent dimension?

For each latent dim d, the best loc is the vertex of a quadratic fit of the objective against loc
(the observed argmin when the fit is not convex). A residual bootstrap gives each vertex a
spread; across dims the drift is the slope b of `best_loc = a + b * ln(d / 16)` (the SD3-style
rule predicts b = 0.5). The drift is called monotonic when the bootstrap 95 % interval of b
excludes 0 and at least 90 % of bootstrap replicates order the best locs increasingly with d.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class DimResult:
    latent_dim: int
    best_loc: float
    best_loc_ci: tuple[float, float]
    observed_best_loc: float
    observed_best_value: float
    n_points: int


@dataclass
class DriftResult:
    dims: list[DimResult]
    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    monotone_fraction: float
    monotonic_drift: bool
    direction: str

    def to_dict(self) -> dict:
        return asdict(self)


def _vertex(loc: np.ndarray, value: np.ndarray, sign: float) -> float:
    """Best loc of one dim: the convex quadratic's vertex clipped to the observed range, else the argbest."""
    lo, hi = loc.min(), loc.max()
    if len(np.unique(loc)) >= 3:
        a, b, _ = np.polyfit(loc, sign * value, 2)
        if a > 1e-12:
            return float(np.clip(-b / (2 * a), lo, hi))
    return float(loc[np.argmin(sign * value)])


def _fitted(loc: np.ndarray, value: np.ndarray) -> np.ndarray:
    degree = 2 if len(np.unique(loc)) >= 3 else 0
    return np.polyval(np.polyfit(loc, value, degree), loc)


def best_loc_per_dim(
    records: list[dict], dim_key: str, loc_key: str, metric: str, mode: str = "min", n_boot: int = 1000, seed: int = 0
) -> tuple[list[DimResult], np.ndarray]:
    """Per-dim best loc with bootstrap replicates: returns (results, replicates[n_boot, n_dims])."""
    rng = np.random.default_rng(seed)
    sign = 1.0 if mode == "min" else -1.0
    dims = sorted({int(r[dim_key]) for r in records})
    results, reps = [], np.zeros((n_boot, len(dims)))
    for j, d in enumerate(dims):
        rows = [r for r in records if int(r[dim_key]) == d and np.isfinite(r.get(metric, np.nan))]
        if not rows:
            raise ValueError(f"no finite {metric!r} results for {dim_key}={d}")
        loc = np.array([float(r[loc_key]) for r in rows])
        val = np.array([float(r[metric]) for r in rows])
        fit = _fitted(loc, val)
        resid = val - fit
        for i in range(n_boot):
            reps[i, j] = _vertex(loc, fit + rng.choice(resid, size=len(resid), replace=True), sign)
        k = int(np.argmin(sign * val))
        results.append(
            DimResult(
                d,
                _vertex(loc, val, sign),
                (float(np.percentile(reps[:, j], 2.5)), float(np.percentile(reps[:, j], 97.5))),
                float(loc[k]),
                float(val[k]),
                len(rows),
            )
        )
    return results, reps


def drift_test(
    records: list[dict],
    dim_key: str = "model.latent_dim",
    loc_key: str = "objective.noise_loc",
    metric: str = "fm_loss_uniform",
    mode: str = "min",
    n_boot: int = 1000,
    seed: int = 0,
) -> DriftResult:
    """Fit the drift of the best loc with ln(d/16) and decide whether it is monotonic."""
    dims, reps = best_loc_per_dim(records, dim_key, loc_key, metric, mode, n_boot, seed)
    if len(dims) < 2:
        raise ValueError("the drift test needs at least two latent dims")
    x = np.log(np.array([r.latent_dim for r in dims]) / 16.0)
    best = np.array([r.best_loc for r in dims])
    slope, intercept = np.polyfit(x, best, 1)
    boot_slopes = np.array([np.polyfit(x, rep, 1)[0] for rep in reps])
    ci = (float(np.percentile(boot_slopes, 2.5)), float(np.percentile(boot_slopes, 97.5)))
    increasing = np.all(np.diff(reps, axis=1) > 0, axis=1).mean()
    decreasing = np.all(np.diff(reps, axis=1) < 0, axis=1).mean()
    up = ci[0] > 0 and increasing >= 0.9
    down = ci[1] < 0 and decreasing >= 0.9
    return DriftResult(
        dims=dims,
        slope=float(slope),
        slope_ci=ci,
        intercept=float(intercept),
        monotone_fraction=float(max(increasing, decreasing)),
        monotonic_drift=bool(up or down),
        direction="increasing" if up else "decreasing" if down else "none",
    )
