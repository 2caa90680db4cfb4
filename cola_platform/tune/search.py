"""Translating a study's search space, search algorithm and scheduler into Ray Tune objects."""

from __future__ import annotations

from typing import Any

from ray import tune

from sweeps.space import Param, SearchSpace
from sweeps.study import SweepStudy


def _domain(p: Param, search: str) -> Any:
    if p.kind in ("grid", "choice", "bundle"):
        return tune.grid_search(list(p.values)) if search == "grid" else tune.choice(list(p.values))
    lo, hi = p.values
    if p.kind == "uniform":
        return tune.uniform(lo, hi)
    if p.kind == "loguniform":
        return tune.loguniform(lo, hi)
    return tune.randint(int(lo), int(hi) + 1)  # upper bound exclusive in Tune


def param_space(space: SearchSpace, search: str) -> dict[str, Any]:
    """Flat Tune param space keyed by the study's names (dotted config keys or free variables)."""
    return {name: _domain(p, search) for name, p in space.params.items()}


def search_algorithm(study: SweepStudy) -> Any | None:
    """OptunaSearch (TPE, seeded, multi-objective capable) for `tpe`; None (Tune's variant generator) otherwise."""
    if study.search != "tpe":
        return None
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    metric = study.objective if len(study.objective) > 1 else study.objective[0]
    mode = study.mode if len(study.mode) > 1 else study.mode[0]
    return OptunaSearch(metric=metric, mode=mode, sampler=optuna.samplers.TPESampler(seed=study.seed), seed=study.seed)


def scheduler(study: SweepStudy, max_t: float) -> Any | None:
    """ASHA on a resource counter (tokens or FLOPs seen), or None (run every trial to the end)."""
    if study.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    # Ray annotates max_t / grace_period as int; the time_attr here is a token or FLOP count, a float
    return ASHAScheduler(
        time_attr=study.time_attr,
        max_t=max_t,  # type: ignore[arg-type]
        grace_period=max(1.0, study.grace_fraction * max_t),  # type: ignore[arg-type]
        reduction_factor=study.reduction_factor,
    )


def num_samples(study: SweepStudy) -> int:
    """Grid: repeats of the full grid; otherwise the number of trials."""
    return study.num_samples
