"""Cola's small FamilySpec hooks: the config shape check, the preset shape and the networks benchmarks time."""

from __future__ import annotations

from typing import Any

from torch import nn

from cola_core.config import Config, ConfigError
from cola_core.families.cola.config import cola_model_config, cola_sampler_config, cola_train_config
from cola_core.families.cola.model import ColaModel
from cola_core.presets import Preset


def check_cola_config(cfg: Config) -> None:
    """Raises ConfigError unless every block size the run trains, samples or evaluates at (`model.block_size`,
    `sampler.block_size`, the sizes of `train.block_size_probs`) times patch_size divides data.seq_len
    (whole blocks per sequence)."""
    m = cola_model_config(cfg)
    sizes = {"model.block_size": m.block_size}
    if cola_sampler_config(cfg).block_size:
        sizes["sampler.block_size"] = cola_sampler_config(cfg).block_size
    for size, _ in cola_train_config(cfg).block_size_choices():
        sizes.setdefault(f"a train.block_size_probs size ({size})", size)
    for key, size in sizes.items():
        if cfg.data.seq_len % (size * m.patch_size):
            what = f"{key}={size}" if key.endswith("block_size") else key
            what += f" x model.patch_size={m.patch_size}" if m.patch_size > 1 else ""
            raise ConfigError(f"{what} must divide data.seq_len={cfg.data.seq_len}")


def cola_preset_shape(p: Preset) -> dict[str, Any]:
    """The preset's own shape: the DiT (width, depth, heads, FFN), the VAE and the block size."""
    return {
        "model.dim": p.dim,
        "model.n_layers": p.n_layers,
        "model.n_heads": p.n_heads,
        "model.ffn_hidden": p.ffn_hidden,
        "model.vae_dim": p.vae_dim,
        "model.vae_layers": p.vae_layers,
        "model.vae_heads": p.vae_heads,
        "model.vae_ffn_hidden": p.vae_ffn_hidden,
        "model.block_size": p.block_size,
    }


def cola_networks(model: ColaModel) -> dict[str, nn.Module]:
    """The DiT, the VAE decoder and the VAE encoder (sampling runs each of them)."""
    assert model.dit is not None  # sampling needs a Stage-2 model (`ColaSampler` refuses a Stage-1 one)
    return {"dit": model.dit, "decoder": model.vae.decoder, "encoder": model.vae.encoder}
