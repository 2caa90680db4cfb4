"""`validate`: every section's own `check()`, then the checks across sections, then the family's `check_config`.
Field-level parsing and coercion stay in `cola_core.config`, the value rules in `cola_core.config_rules`."""

from __future__ import annotations

from cola_core.config import BASE_SECTIONS, SECTIONS, Config, ConfigError


def validate(cfg: Config) -> Config:
    """Check every section, cross-section constraints and the family's `check_config`; raise ConfigError naming
    the first problem."""
    from cola_core.registry import get_family  # lazy: the registry imports cola_core.presets, which imports this module

    spec = get_family(cfg.run.family)
    for name, base in BASE_SECTIONS.items():
        kind = spec.sections.get(name, base)
        if type(getattr(cfg, name)) is not kind:
            raise ConfigError(
                f"the {name} section is a {type(getattr(cfg, name)).__name__}, family {cfg.run.family!r} needs a "
                f"{kind.__name__}: build the config with Config.for_family or set run.family through set_key"
            )
    for name in SECTIONS:
        check = getattr(getattr(cfg, name), "check", None)
        if check is not None:
            check()
    if cfg.optim.name == "muon" and cfg.train.workers > 0 and cfg.train.zero_stage > 0:
        raise ConfigError(
            f"optim.name=muon needs train.zero_stage=0 on Ray Train (got {cfg.train.zero_stage}): ZeRO-1/2/3 "
            "partition the optimizer over flattened parameters, and Muon orthogonalises each weight matrix whole"
        )
    if spec.check_config is not None:
        spec.check_config(cfg)
    return cfg
