"""The Cola model: Text VAE + block-causal DiT (+ a frozen reference encoder in Stage 2).

Stage 1 builds only the VAE. Stage 2 builds VAE + DiT; its VAE comes from the Stage-1 run named by
`run.init_from` (a directory with `model.safetensors` and `config.json`), except for
`latent_evolution = scratch`. The latent normalisation z_n = (z - shift) * scale is a pair of
per-channel buffers saved with the weights; `prepare_latent_stats` estimates them from data.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file
from torch import nn

from cola_core.config import Config, ConfigError
from cola_core.families.cola.config import (
    cola_model_config,
    cola_objective_config,
    cola_sampler_config,
    cola_train_config,
)
from cola_core.families.cola.dit import BlockCausalDiT
from cola_core.families.cola.vae import TextVAE, VAEEncoder

log = logging.getLogger(__name__)

# Model fields that define the VAE; a Stage-1 run must agree with the Stage-2 config on all of them.
VAE_FIELDS = (
    "vocab_size",
    "latent_dim",
    "patch_size",
    "vae_dim",
    "vae_layers",
    "vae_heads",
    "vae_ffn_hidden",
    "vae_logsnr",
    "boundary",
    "rope_theta",
)
STAGE1_KEYS = (
    *(f"model.{k}" for k in VAE_FIELDS),
    "objective.beta_kl",
    "objective.lambda_mask",
    "objective.mask_ratio",
)
"""What a Stage-1 VAE depends on besides the data, optimizer and seed (not the DiT or the FM loss)."""


class ColaModel(nn.Module):
    """`vae`, `dit` (None in Stage 1), `ref_encoder` (frozen, Stage 2 only), latent shift/scale buffers."""

    latent_shift: torch.Tensor
    latent_scale: torch.Tensor

    def __init__(self, cfg: Config, with_dit: bool, with_ref: bool):
        super().__init__()
        m = cola_model_config(cfg)
        self.block_size, self.patch_size, self.latent_dim = m.block_size, m.patch_size, m.latent_dim
        self.vae = TextVAE(m)
        self.dit = BlockCausalDiT(m) if with_dit else None
        self.ref_encoder: VAEEncoder | None = None
        if with_ref:
            self.reset_reference()
        self.register_buffer("latent_shift", torch.zeros(m.latent_dim))
        self.register_buffer("latent_scale", torch.ones(m.latent_dim))

    def reset_reference(self) -> None:
        """Make the frozen reference encoder q_phi_ref a copy of the current encoder."""
        self.ref_encoder = copy.deepcopy(self.vae.encoder)
        self.ref_encoder.requires_grad_(False)
        self.ref_encoder.eval()

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """VAE latents (..., d) -> DiT space: (z - shift) * scale."""
        return (z - self.latent_shift) * self.latent_scale

    def denormalize(self, zn: torch.Tensor) -> torch.Tensor:
        """DiT space (..., d) -> VAE latents: zn / scale + shift."""
        return zn / self.latent_scale + self.latent_shift

    def train(self, mode: bool = True) -> ColaModel:
        """Like nn.Module.train, but the reference encoder always stays in eval mode."""
        super().train(mode)
        if self.ref_encoder is not None:
            self.ref_encoder.eval()
        return self


def eval_block_size(model: ColaModel, cfg: Config) -> int:
    """The block size `model` samples and is evaluated at: `sampler.block_size`, else `model.block_size`."""
    return cola_sampler_config(cfg).block_size or model.block_size


def _has_reference(cfg: Config) -> bool:
    """Stage 2 keeps a frozen reference encoder unless the VAE is frozen, trained from scratch, or lambda_ref = 0."""
    return (
        cfg.train.stage == 2
        and cola_objective_config(cfg).lambda_ref > 0
        and cola_train_config(cfg).latent_evolution in ("joint", "interval")
    )


def needs_stage1(cfg: Config) -> bool:
    """Whether the run trains on from a Stage-1 VAE (Stage 2, unless the VAE is trained from scratch)."""
    return cfg.train.stage == 2 and cola_train_config(cfg).latent_evolution != "scratch"


def check_train_config(cfg: Config) -> None:
    """A fresh Stage-2 run that starts from Stage 1 needs a usable `run.init_from` (ConfigError otherwise)."""
    if not needs_stage1(cfg):
        return
    if not cfg.run.init_from:
        raise ConfigError(
            f"train.stage=2 with train.latent_evolution={cola_train_config(cfg).latent_evolution!r} needs "
            "run.init_from=<Stage-1 run dir> (or latent_evolution=scratch)"
        )
    _stage1_weights(cfg)


def _stage1_weights(cfg: Config) -> Path:
    """The Stage-1 weights file at `run.init_from`, after checking the run's config matches this VAE."""
    directory = Path(cfg.run.init_from)
    weights = directory / "model.safetensors"
    if not directory.is_dir() or not weights.is_file():
        raise ConfigError(
            f"run.init_from={str(directory)!r} must be a directory holding model.safetensors "
            "and config.json from a Stage-1 run"
        )
    _check_stage1_config(directory, cfg)
    return weights


def build_cola_model(cfg: Config, load_stage1: bool = True) -> ColaModel:
    """Build the model for `cfg.train.stage`; Stage 2 loads its VAE from `run.init_from` when it is set.

    An empty `run.init_from` (or `load_stage1=False`) skips that load: restoring a Stage-2 checkpoint
    or exported run, whose weights already hold the VAE, the reference encoder and the latent
    statistics. A fresh Stage-2 *training* run without it is refused by `prepare_latent_stats`.
    """
    stage2 = cfg.train.stage == 2
    model = ColaModel(cfg, with_dit=stage2, with_ref=_has_reference(cfg))
    if needs_stage1(cfg) and load_stage1 and cfg.run.init_from:
        load_stage1_vae(model, cfg)
        if model.ref_encoder is not None:
            model.reset_reference()
    if stage2 and cola_train_config(cfg).latent_evolution == "fixed_vae":
        model.vae.requires_grad_(False)
    return model


def _check_stage1_config(directory: Path, cfg: Config) -> None:
    cfg_path = directory / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"run.init_from={str(directory)!r} has no config.json: point it at a finished Stage-1 run")
    old = Config.load(cfg_path)
    diffs = [
        f"model.{k}: stage-1 {getattr(old.model, k)!r} vs {getattr(cfg.model, k)!r}"
        for k in VAE_FIELDS
        if getattr(old.model, k) != getattr(cfg.model, k)
    ]
    if diffs:
        raise ConfigError(
            f"the Stage-1 VAE in {str(directory)!r} differs from this config ({'; '.join(diffs)}): "
            "use the same VAE settings in Stage 2"
        )


def load_stage1_vae(model: ColaModel, cfg: Config) -> None:
    """Copy the `vae.*` weights of the Stage-1 run at `cfg.run.init_from` into `model.vae` (ConfigError if unusable)."""
    weights = _stage1_weights(cfg)
    saved = {k[len("vae.") :]: v for k, v in load_file(str(weights)).items() if k.startswith("vae.")}
    own = model.vae.state_dict()
    missing = sorted(set(own) - set(saved))
    bad = [
        f"{k} {tuple(saved[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in saved and saved[k].shape != v.shape
    ]
    if missing or bad:
        what = f"missing {missing[:3]}" if missing else f"shape mismatch {bad[:3]}"
        raise ConfigError(
            f"the Stage-1 VAE in {str(weights)!r} does not fit this config ({what}): use the same VAE settings"
        )
    model.vae.load_state_dict({k: saved[k] for k in own})
    log.info("loaded the Stage-1 VAE from %s", weights)


def latent_stats_batches(cfg: Config) -> int:
    """How many batches `prepare_latent_stats` draws (`FamilySpec.prepare_batches`)."""
    return max(1, cola_train_config(cfg).latent_stats_batches)


@torch.no_grad()
def prepare_latent_stats(model: ColaModel, cfg: Config, next_batch: Callable[[], torch.Tensor]) -> None:
    """Estimate the per-channel latent shift (mean) and scale (1 / std) from posterior samples.

    Runs on a fresh Stage-2 run over `train.latent_stats_batches` batches; a no-op in Stage 1.
    Raises ConfigError when a Stage-2 run that should start from Stage 1 has no `run.init_from`.
    In data-parallel training every rank must end with the same values (broadcast from rank 0).
    """
    if cfg.train.stage != 2:
        return
    check_train_config(cfg)
    device = model.latent_shift.device
    was_training = model.training
    model.eval()
    total = torch.zeros(model.latent_dim, dtype=torch.float64, device=device)
    total_sq = torch.zeros_like(total)
    count = 0
    for _ in range(latent_stats_batches(cfg)):
        z = model.vae.encode(next_batch().to(device)).sample().double().flatten(0, 1)  # (B*N, d)
        total += z.sum(0)
        total_sq += z.pow(2).sum(0)
        count += z.shape[0]
    mean = total / count
    std = (total_sq / count - mean.pow(2)).clamp_min(1e-12).sqrt()
    model.latent_shift.copy_(mean.to(model.latent_shift.dtype))
    model.latent_scale.copy_((1.0 / std.clamp_min(1e-4)).to(model.latent_scale.dtype))
    model.train(was_training)
    log.info(
        "latent stats from %d latents: shift mean %.4f, scale mean %.4f",
        count,
        mean.mean().item(),
        model.latent_scale.mean().item(),
    )
