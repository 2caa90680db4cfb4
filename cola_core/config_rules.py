"""`ConfigError` and the small value rules every config section's `check()` is written with.

Each rule names the offending key as users type it (`model.dim`), so a section's check is one line per rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A config key or value is invalid; the message names the field and what to do."""


def positive(section: Any, prefix: str, names: Iterable[str]) -> None:
    """Every named field of `section` is > 0."""
    for name in names:
        value = getattr(section, name)
        if value <= 0:
            raise ConfigError(f"{prefix}.{name}={value} must be positive")


def non_negative(section: Any, prefix: str, names: Iterable[str]) -> None:
    """Every named field of `section` is >= 0."""
    for name in names:
        value = getattr(section, name)
        if value < 0:
            raise ConfigError(f"{prefix}.{name}={value} must be >= 0")


def unit_interval(section: Any, prefix: str, names: Iterable[str]) -> None:
    """Every named field of `section` lies in [0, 1]."""
    for name in names:
        value = getattr(section, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{prefix}.{name}={value} must lie in [0, 1]")


def one_of(section: Any, prefix: str, name: str, choices: tuple[Any, ...]) -> None:
    """The named field of `section` is one of `choices`."""
    value = getattr(section, name)
    if value not in choices:
        raise ConfigError(f"{prefix}.{name}={value!r} must be one of {', '.join(map(str, choices))}")


def even_heads(dim_key: str, dim: int, heads_key: str, heads: int) -> None:
    """`dim` splits into `heads` heads of an even size (rotate-half RoPE needs pairs)."""
    if dim % heads or (dim // heads) % 2:
        raise ConfigError(f"{dim_key}={dim} must be divisible by {heads_key}={heads} into an even head size")
