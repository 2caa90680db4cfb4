"""Reading settings from text: `--set key=value` flags and TOML files (ConfigError on bad input)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cola_core.config_rules import ConfigError


def parse_set_args(items: list[str]) -> dict[str, str]:
    """`["optim.lr=3e-4", ...]` (from repeated `--set`) -> `{"optim.lr": "3e-4"}`."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like key=value, e.g. optim.lr=3e-4")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def load_toml(path: str | Path, tables: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors (and top-level tables not in `tables`, if given) into ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: invalid TOML ({err})") from None
    unknown = set(raw) - set(tables) if tables else set()
    if unknown:
        raise ConfigError(f"{p}: unknown table(s) {', '.join(sorted(unknown))}; use {', '.join(tables)}")
    return raw
