"""The matched preset ladder: one size name, three families of equal backbone size.

A preset fixes the Cola shape (DiT + VAE). AR and LLaDA get `ar_layers` layers of the same width,
and their SwiGLU hidden size is *solved* so that their non-embedding parameters equal the Cola
DiT's (the paper's matching; the Cola VAE is extra). Each family's `FamilySpec.preset_shape` turns a
preset into its `model.*` fields. `tests/unit/test_presets.py` checks the 2 % rule over the whole ladder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cola_core.config import Config, ConfigError, apply_overrides
from cola_core.config_checks import validate


@dataclass(frozen=True)
class Preset:
    """One rung of the ladder."""

    dim: int
    n_layers: int
    """DiT depth."""
    n_heads: int
    vae_dim: int
    vae_layers: int
    vae_heads: int
    ar_layers: int
    """AR / LLaDA depth (the paper: 27 next to a 24-layer DiT)."""
    ar_ffn_hidden: int = 0
    """Fixed AR/LLaDA SwiGLU width (0: solve for the parameter match)."""
    ffn_hidden: int = 0
    """DiT GELU width (0: 4 * dim)."""
    vae_ffn_hidden: int = 0
    block_size: int = 16
    lr: float = 1e-3
    micro_batch_size: int = 16
    seq_len: int = 128
    """Suggested sequence length (the data manifest decides)."""
    note: str = ""


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        dim=64,
        n_layers=2,
        n_heads=4,
        vae_dim=64,
        vae_layers=1,
        vae_heads=4,
        ar_layers=2,
        block_size=4,
        lr=2e-3,
        micro_batch_size=8,
        seq_len=64,
        note="tests and smoke runs",
    ),
    "xs": Preset(
        dim=128,
        n_layers=2,
        n_heads=4,
        vae_dim=128,
        vae_layers=1,
        vae_heads=4,
        ar_layers=2,
        block_size=8,
        lr=2e-3,
        micro_batch_size=16,
        seq_len=128,
        note="CPU demo scale",
    ),
    "s": Preset(
        dim=256,
        n_layers=4,
        n_heads=4,
        vae_dim=192,
        vae_layers=2,
        vae_heads=4,
        ar_layers=4,
        block_size=8,
        lr=1e-3,
        micro_batch_size=8,
        seq_len=256,
        note="CPU, minutes per 100 steps",
    ),
    "m": Preset(
        dim=384,
        n_layers=6,
        n_heads=6,
        vae_dim=256,
        vae_layers=2,
        vae_heads=4,
        ar_layers=7,
        block_size=16,
        lr=8e-4,
        micro_batch_size=16,
        seq_len=256,
        note="CPU overnight / 1 GPU",
    ),
    "l": Preset(
        dim=512,
        n_layers=8,
        n_heads=8,
        vae_dim=384,
        vae_layers=2,
        vae_heads=6,
        ar_layers=9,
        block_size=16,
        lr=6e-4,
        micro_batch_size=16,
        seq_len=256,
        note="1 GPU",
    ),
    "1b": Preset(
        dim=1792,
        n_layers=16,
        n_heads=14,
        vae_dim=1024,
        vae_layers=4,
        vae_heads=8,
        ar_layers=18,
        block_size=16,
        lr=2e-4,
        micro_batch_size=8,
        seq_len=512,
        note="GPU cluster",
    ),
    "2b": Preset(
        dim=2048,
        n_layers=24,
        n_heads=16,
        vae_dim=1536,
        vae_layers=4,
        vae_heads=12,
        ar_layers=27,
        ar_ffn_hidden=8192,
        ffn_hidden=8192,
        vae_ffn_hidden=6144,
        block_size=16,
        lr=1.5e-4,
        micro_batch_size=8,
        seq_len=512,
        note="paper Table 9 shapes",
    ),
}
ALIASES = {"small": "s", "base": "m", "large": "l"}


def preset_names() -> list[str]:
    """Ladder order, smallest first."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """Look up a preset (aliases: small=s, base=m, large=l)."""
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        known = ", ".join(list(PRESETS) + [f"{a} (={b})" for a, b in ALIASES.items()])
        raise ConfigError(f"unknown preset {name!r}: choose one of {known}")
    return PRESETS[key]


def matched_ffn_hidden(p: Preset) -> int:
    """SwiGLU width that makes AR/LLaDA non-embedding params equal the Cola DiT's."""
    from cola_core.registry import get_family

    if p.ar_ffn_hidden:
        return p.ar_ffn_hidden
    cola = get_family("cola")
    assert cola.preset_shape is not None  # Cola sizes the preset ladder
    target = cola.count_params(apply_overrides(Config.for_family("cola"), cola.preset_shape(p)).model).backbone
    d = p.dim
    # non_embedding(AR) = L * (2d + 4d^2 + 3 d f) + d  ->  solve for f
    per_layer = (target - d) / p.ar_layers
    return max(8, round((per_layer - 2 * d - 4 * d * d) / (3 * d)))


def matched_shape(p: Preset) -> dict[str, Any]:
    """The AR/LLaDA `preset_shape`: `ar_layers` layers of the preset's width with the matched SwiGLU width."""
    return {
        "model.dim": p.dim,
        "model.n_layers": p.ar_layers,
        "model.n_heads": p.n_heads,
        "model.ffn_hidden": matched_ffn_hidden(p),
    }


def preset_overrides(name: str, family: str) -> dict[str, Any]:
    """Dotted-key overrides that turn a default `Config` into `preset` for `family` (its `preset_shape`)."""
    from cola_core.registry import get_family

    shape = get_family(family).preset_shape
    if shape is None:
        raise ConfigError(
            f"family {family!r} has no preset shape (FamilySpec.preset_shape): preset {name!r} cannot size it"
        )
    p = get_preset(name)
    return {"optim.lr": p.lr, "train.micro_batch_size": p.micro_batch_size, "data.seq_len": p.seq_len, **shape(p)}


def resolve_config(
    family: str, preset: str, overrides: dict[str, Any] | None = None, base: Config | None = None
) -> Config:
    """Family + preset + user overrides (applied last) -> a validated Config."""
    overrides_of_preset = preset_overrides(preset, family)  # first: clear errors for an unknown family or preset
    cfg = base or Config()
    cfg.set_family(family)
    cfg.run.preset = ALIASES.get(preset, preset)
    apply_overrides(cfg, overrides_of_preset)
    apply_overrides(cfg, overrides or {})
    return validate(cfg)
