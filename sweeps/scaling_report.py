"""Analysis of a scaling study from its point records (from result files or from MLflow alone).

A point record is flat: `family`, `preset`, `budget`, `flops`, `tokens`, `params_backbone`,
`params_total`, and metrics (`eval_loss`, `nll_nats_per_token`, `accuracy_mean`, task accuracies,
`sw_quality_valid`, ...). Per family: metric-vs-compute curves (the best preset at each budget),
power-law fits, isoFLOP parabolas of loss against size, and the crossover budget where Cola overtakes
each baseline on the quality metric.
"""

from __future__ import annotations

import math
from typing import Any

from sweeps.fits import crossover, fit_isoflop, fit_optimal_size, fit_power_law
from sweeps.values import finite, points_of

LIKELIHOOD = "nll_nats_per_token"
"""Cross-family likelihood number (AR: exact NLL; LLaDA: MC bound; Cola: negative-ELBO estimate)."""
READABLE = "readable_metric"
"""Per-family diagnostic that reads right (lower is better): `FamilySpec.readable_metric`, whose name
each point carries as `readable_name`."""


def frontier(points: list[dict], family: str, metric: str, higher_is_better: bool) -> list[dict]:
    """Per budget, the family's best point on `metric` (the compute-efficient frontier)."""
    best: dict[float, dict] = {}
    for p in points_of(points, family, metric=metric):
        cur = best.get(p["budget"])
        better = p[metric] != cur[metric] and (p[metric] > cur[metric]) == higher_is_better if cur else True
        if better:
            best[p["budget"]] = p
    return [best[b] for b in sorted(best)]


def _fit(front: list[dict], metric: str) -> dict | None:
    pts = [(p["flops"], p[metric]) for p in front if p[metric] > 0]
    if len({c for c, _ in pts}) < 2:
        return None
    try:
        return fit_power_law([c for c, _ in pts], [m for _, m in pts]).to_dict()
    except ValueError:
        return None


def isoflops(points: list[dict], family: str, loss: str) -> dict[str, Any]:
    """IsoFLOP parabola per budget (needs >= 3 sizes) and the optimal-size law across budgets."""
    fits = []
    for budget in sorted({p["budget"] for p in points_of(points, family)}):
        rows = points_of(points, family, budget, loss)
        fits.append(fit_isoflop(budget, [p["params_backbone"] for p in rows], [p[loss] for p in rows]))
    law = fit_optimal_size(fits)
    return {"per_budget": [vars(f) for f in fits if f is not None], "optimal_size_law": law.to_dict() if law else None}


def analyze(points: list[dict], families: list[str], loss_metric: str, quality_metric: str) -> dict[str, Any]:
    """Curves, fits and crossovers for every family of the study."""
    out: dict[str, Any] = {
        "families": {},
        "crossovers": {},
        "quality_metric": quality_metric,
        "loss_metric": loss_metric,
    }
    for fam in families:
        q_front = frontier(points, fam, quality_metric, higher_is_better=True)
        l_front = frontier(points, fam, LIKELIHOOD, higher_is_better=False)
        r_front = frontier(points, fam, READABLE, higher_is_better=False)
        out["families"][fam] = {
            "quality_curve": [
                {"budget": p["budget"], "flops": p["flops"], "value": p[quality_metric], "preset": p["preset"]}
                for p in q_front
            ],
            "likelihood_curve": [
                {"budget": p["budget"], "flops": p["flops"], "value": p[LIKELIHOOD], "preset": p["preset"]}
                for p in l_front
            ],
            "quality_fit": _fit(q_front, quality_metric),
            "likelihood_fit": _fit(l_front, LIKELIHOOD),
            "readable_name": next((p.get("readable_name", "") for p in r_front), ""),
            "readable_curve": [
                {"budget": p["budget"], "flops": p["flops"], "value": p[READABLE], "preset": p["preset"]}
                for p in r_front
            ],
            "isoflop": isoflops(points, fam, loss_metric),
        }
    if "cola" in families:
        cola = frontier(points, "cola", quality_metric, True)
        for base in [f for f in families if f != "cola"]:
            other = frontier(points, base, quality_metric, True)
            out["crossovers"][f"cola_vs_{base}"] = _crossover(cola, other, quality_metric)
    return out


def _crossover(a: list[dict], b: list[dict], metric: str) -> dict[str, Any]:
    pa = [(p["flops"], p[metric]) for p in a if p[metric] > 0]
    pb = [(p["flops"], p[metric]) for p in b if p[metric] > 0]
    if len({c for c, _ in pa}) < 2 or len({c for c, _ in pb}) < 2:
        return {
            "budget": None,
            "budget_ci": None,
            "fraction_crossing": 0.0,
            "note": f"needs >= 2 budgets with {metric} > 0 for both families",
        }
    x = crossover([c for c, _ in pa], [m for _, m in pa], [c for c, _ in pb], [m for _, m in pb], higher_is_better=True)
    return {"budget": x.budget, "budget_ci": x.budget_ci, "fraction_crossing": x.fraction_crossing, "note": ""}


def comparison_table(points: list[dict], metrics: list[str], quality_metric: str) -> list[dict]:
    """One row per (budget, family): the numbers of the family's best point on the quality metric."""
    rows = []
    for budget in sorted({p["budget"] for p in points}):
        for fam in sorted({p["family"] for p in points}):
            cands = points_of(points, fam, budget)
            if not cands:
                continue
            best = max(cands, key=lambda p: p[quality_metric] if finite(p.get(quality_metric)) else -math.inf)
            rows.append(
                {
                    "budget": budget,
                    "family": fam,
                    "preset": best["preset"],
                    "flops": best["flops"],
                    **{m: best.get(m) for m in metrics},
                }
            )
    return rows


def first_reached(
    points: list[dict], families: list[str], metric: str, thresholds: list[float], skipped: list[dict] | None = None
) -> list[dict]:
    """Per family and threshold: the smallest trained budget (and its training FLOPs) whose `metric`
    reaches the threshold, or None with the largest budget trained, the best value and why the
    climb stopped (the budget gate's reason for the first skipped budget, if any)."""
    rows = []
    for fam in families:
        mine = sorted(points_of(points, fam, metric=metric), key=lambda p: p["budget"])
        stops = sorted(points_of(skipped or [], fam), key=lambda s: s["budget"])
        for q in thresholds:
            hit = next((p for p in mine if p[metric] >= q), None)
            rows.append(
                {
                    "family": fam,
                    "threshold": q,
                    "budget": hit["budget"] if hit else None,
                    "flops": hit["flops"] if hit else None,
                    "largest_budget": mine[-1]["budget"] if mine else None,
                    "best": max((p[metric] for p in mine), default=None),
                    "stopped": "" if hit else (stops[0]["reason"] if stops else "largest budget of the study"),
                }
            )
    return rows
