"""Coupled search spaces declared in TOML, with derived parameters.

    [space]
    "model.latent_dim" = { grid = [16, 64, 128] }
    delta = { uniform = [-0.5, 0.5] }             # a free variable, not a config key
    "model.vae_logsnr" = { choice = ["learned", "fixed:1.5"] }
    variant = { bundle = { joint = { "train.latent_evolution" = "joint" },
                           joint_x0.01 = { "train.latent_evolution" = "joint", "train.vae_lr_ratio" = 0.01 } } }

    [derived]
    "objective.noise_loc" = "base + 0.5 * log(model.latent_dim / 16) + delta"

    [constants]
    base = 1.0

A searched name with a dot must be a config key; a bare name is a free variable usable only in
derived expressions. A `bundle` is a choice between named sets of config overrides (for variants
that change several keys at once, like the paper's latent-evolution strategies). `resolve_trial` turns one sampled point into config overrides.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

from cola_core.config import Config, ConfigError, apply_overrides, set_key
from cola_core.config_checks import validate
from sweeps.expr import ExprError, evaluate, names

KINDS = ("grid", "choice", "uniform", "loguniform", "int", "bundle")
GRIDDABLE = ("grid", "choice", "bundle")


@dataclass(frozen=True)
class Param:
    """One searched dimension."""

    name: str
    kind: str
    values: tuple
    bundles: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    """`bundle` kind: value name -> the config overrides it stands for."""

    def corners(self) -> list[Any]:
        """Representative values for up-front validation (all grid/choice values, range ends)."""
        if self.kind in GRIDDABLE:
            return list(self.values)
        return [self.values[0], self.values[1]]

    def sample(self, rng: random.Random) -> Any:
        """One random value (random search, and tests)."""
        if self.kind in GRIDDABLE:
            return rng.choice(self.values)
        lo, hi = self.values
        if self.kind == "uniform":
            return rng.uniform(lo, hi)
        if self.kind == "loguniform":
            return math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return rng.randint(int(lo), int(hi))


@dataclass
class SearchSpace:
    """Searched params, derived keys (expressions) and constants."""

    params: dict[str, Param] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    constants: dict[str, float] = field(default_factory=dict)

    def grid_points(self) -> list[dict[str, Any]]:
        """Cartesian product of grid/choice params (the full grid); ranges are not griddable."""
        ranged = [p.name for p in self.params.values() if p.kind not in GRIDDABLE]
        if ranged:
            raise ConfigError(f"grid search needs grid/choice values, but {', '.join(ranged)} are ranges")
        keys = list(self.params)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.params[k].values for k in keys))]

    def resolve_trial(self, point: dict[str, Any], base: Config) -> dict[str, Any]:
        """Sampled point -> config overrides (searched config keys + derived keys)."""
        overrides = {k: v for k, v in point.items() if "." in k}
        for name, p in self.params.items():
            if p.kind == "bundle" and name in point:
                overrides.update(p.bundles[point[name]])
        env: dict[str, Any] = {**self.constants, **point}
        flat = apply_overrides(_copy(base), overrides).flat()
        env.update({k: v for k, v in flat.items() if k not in env})
        for key, expr in self.derived.items():
            value = evaluate(expr, env)
            overrides[key] = value
            env[key] = value
        return overrides


def _copy(cfg: Config) -> Config:
    return Config.from_dict(cfg.to_dict())


def parse_param(name: str, spec: Any, where: str) -> Param:
    """`{grid = [...]}` / `{uniform = [lo, hi]}` / ... -> Param, with one-line errors."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(f"{where}.{name}: write one of {{ {' | '.join(f'{k} = [...]' for k in KINDS)} }}")
    kind, values = next(iter(spec.items()))
    if kind not in KINDS:
        raise ConfigError(f"{where}.{name}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "bundle":
        if not isinstance(values, dict) or not values or not all(isinstance(v, dict) for v in values.values()):
            raise ConfigError(f'{where}.{name}: bundle needs {{ name = {{ "section.key" = value, ... }}, ... }}')
        return Param(name, kind, tuple(values), bundles={k: dict(v) for k, v in values.items()})
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}.{name}: the {kind} list is empty")
    if kind in ("uniform", "loguniform", "int"):
        if len(values) != 2 or not values[0] < values[1]:
            raise ConfigError(f"{where}.{name}: {kind} needs [low, high] with low < high")
        if kind == "loguniform" and values[0] <= 0:
            raise ConfigError(f"{where}.{name}: loguniform needs a positive low end")
    return Param(name, kind, tuple(values))


def parse_space(raw: dict[str, Any], base: Config) -> SearchSpace:
    """Build and fully validate a SearchSpace against `base` before any trial runs."""
    params = {name: parse_param(name, spec, "space") for name, spec in raw.get("space", {}).items()}
    if not params:
        raise ConfigError("the study's [space] is empty: declare at least one searched parameter")
    space = SearchSpace(
        params=params,
        derived=dict(raw.get("derived", {})),
        constants={k: float(v) for k, v in raw.get("constants", {}).items()},
    )
    bundle_keys = [k for p in params.values() for b in p.bundles.values() for k in b]
    for key in [k for k in params if "." in k] + list(space.derived) + bundle_keys:
        set_key(_copy(base), key, _placeholder(base, key))  # unknown config key -> ConfigError
    for key, expr in space.derived.items():
        if key in params:
            raise ConfigError(f"derived {key!r} is also searched; search its free variables instead")
        try:
            unknown = names(expr) - set(params) - set(space.constants) - set(base.flat()) - set(space.derived)
        except ExprError as err:
            raise ConfigError(f"derived {key!r}: {err}") from None
        if unknown:
            raise ConfigError(f"derived {key!r} = {expr!r} uses undefined {', '.join(sorted(unknown))}")
    check_corners(space, base)
    return space


def _placeholder(base: Config, key: str) -> Any:
    """The base value of `key` (None for an unknown key, which `set_key` then rejects by name)."""
    return base.flat().get(key)


def check_corners(space: SearchSpace, base: Config) -> None:
    """Every combination of corner values must give a valid config (an impossible coupling fails here)."""
    keys = list(space.params)
    for combo in itertools.product(*(space.params[k].corners() for k in keys)):
        point = dict(zip(keys, combo))
        try:
            validate(apply_overrides(_copy(base), space.resolve_trial(point, base)))
        except (ConfigError, ExprError) as err:
            raise ConfigError(f"the space allows an invalid trial {point}: {err}") from None
