"""Cola's config sections (`FamilySpec.sections`): the Text VAE and DiT shape, the Stage-1 / Stage-2 loss,
the Stage-2 treatment of the VAE, and the block-wise ODE sampler (DESIGN.md §3). No torch here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cola_core.config import BackboneConfig, Config, ObjectiveConfig, SamplerConfig, TrainConfig, section_as
from cola_core.config_rules import ConfigError, even_heads, non_negative, one_of, positive, unit_interval


BOUNDARIES = ("official", "aware")


@dataclass
class ColaModelConfig(BackboneConfig):
    """The DiT backbone (`dim`, `n_layers`, ...) plus the Text VAE and the latent layout."""

    latent_dim: int = 16
    """Channels per latent (d)."""
    patch_size: int = 1
    """Tokens pooled into one latent (p)."""
    block_size: int = 4
    """Latents per DiT block (block-causal granularity)."""
    vae_dim: int = 128
    """Hidden size of the VAE encoder and decoder."""
    vae_layers: int = 1
    """Depth of the VAE encoder and of the decoder (each)."""
    vae_heads: int = 4
    """Attention heads in the VAE."""
    vae_ffn_hidden: int = 0
    """VAE MLP hidden size; 0 means 4 * vae_dim."""
    vae_logsnr: str = "learned"
    """`learned` (free log-variance head) or `fixed:<v>` (sigma^2 = exp(-v))."""
    boundary: str = "official"
    """How a prompt that ends inside a patch is sampled (p > 1). `official` (the paper's): its partial patch's
    latent is generated and the prompt's tokens replace the decoder's first ones. `aware`: training shifts every
    sequence right by a random 0..p-1 PAD tokens (loss-masked), so the sampler can left-pad a prompt to end on a
    patch boundary and encode all of it."""
    timestep_freq_dim: int = 256
    """Sinusoidal timestep features fed to the DiT's timestep MLP."""

    def tokens_per_position(self) -> int:
        return self.patch_size

    def vae_ffn(self) -> int:
        """Resolved VAE MLP hidden size."""
        return self.vae_ffn_hidden or 4 * self.vae_dim

    def fixed_logsnr(self) -> float | None:
        """The fixed VAE logSNR, or None when it is learned."""
        if self.vae_logsnr == "learned":
            return None
        return float(self.vae_logsnr.split(":", 1)[1])

    def check(self) -> None:
        super().check()
        positive(self, "model", ("latent_dim", "patch_size", "block_size", "vae_dim", "vae_layers", "vae_heads"))
        non_negative(self, "model", ("vae_ffn_hidden",))
        even_heads("model.vae_dim", self.vae_dim, "model.vae_heads", self.vae_heads)
        one_of(self, "model", "boundary", BOUNDARIES)
        if self.vae_logsnr == "learned":
            return
        if not self.vae_logsnr.startswith("fixed:"):
            raise ConfigError(f"model.vae_logsnr={self.vae_logsnr!r} must be 'learned' or 'fixed:<value>'")
        try:
            v = float(self.vae_logsnr.split(":", 1)[1])
        except ValueError:
            raise ConfigError(
                f"model.vae_logsnr={self.vae_logsnr!r}: the value after 'fixed:' is not a number"
            ) from None
        if not math.isfinite(v) or not -20 <= v <= 30:
            raise ConfigError(f"model.vae_logsnr={self.vae_logsnr!r}: the fixed logSNR must lie in [-20, 30]")


@dataclass
class ColaObjectiveConfig(ObjectiveConfig):
    """The Stage-1 VAE loss and the Stage-2 joint loss (DESIGN.md §3)."""

    beta_kl: float = 1e-3
    """beta: weight of KL(q || N(0, I)) in Stage 1 and of E_q[log q] in Stage 2."""
    lambda_mask: float = 0.5
    """Weight of the BERT-style mask reconstruction loss."""
    mask_ratio: float = 0.15
    """Fraction of encoder input tokens replaced by [MASK] for the mask loss."""
    lambda_vae: float = 1.0
    """Stage 2: weight of the VAE terms."""
    lambda_fm: float = 1.0
    """Stage 2: weight of the flow-matching loss."""
    lambda_ref: float = 1.0
    """Stage 2: weight of KL(q_phi || q_phi_ref) to the frozen Stage-1 encoder."""
    t_sampling: str = "logit_normal"
    """Flow-matching time distribution: `logit_normal` or `uniform`."""
    noise_loc: float = 1.0
    """Logit-normal location (larger = noisier). Paper: 1.0 at d=16, 1.7 at 64, 2.3 at 128."""
    noise_scale: float = 1.0
    """Logit-normal scale."""
    clean_prefix_prob: float = 0.05
    """Per block: probability that a random prefix of the noisy block is pinned clean (t=0)."""

    def check(self) -> None:
        one_of(self, "objective", "t_sampling", ("logit_normal", "uniform"))
        unit_interval(self, "objective", ("mask_ratio", "clean_prefix_prob"))
        positive(self, "objective", ("noise_scale",))


@dataclass
class ColaTrainConfig(TrainConfig):
    """The training loop plus what Stage 2 does with the VAE (`train.stage`: 1 = VAE only, 2 = joint)."""

    latent_evolution: str = "joint"
    """Stage 2 VAE treatment: `joint`, `fixed_vae`, `scratch` or `interval`."""
    vae_lr_ratio: float = 1.0
    """VAE learning rate as a fraction of the DiT's (Stage 2)."""
    interval_steps: int = 50
    """`interval`: the VAE alternates frozen / trainable every this many steps."""
    latent_stats_batches: int = 8
    """Batches used to estimate the latent shift/scale at the start of Stage 2."""
    block_size_probs: str = ""
    """Stage 2: train the DiT at block sizes drawn per micro-batch, `SIZE:PROB,...` (e.g.
    `4:0.25,8:0.5,16:0.25`), so one model samples at each of them (`sampler.block_size`); empty: always
    `model.block_size`."""

    def block_size_choices(self) -> list[tuple[int, float]]:
        """`block_size_probs` parsed: [(size, probability), ...]; empty when not set."""
        if not self.block_size_probs.strip():
            return []
        out = []
        for item in self.block_size_probs.split(","):
            size, sep, prob = item.partition(":")
            try:
                out.append((int(size), float(prob)))
            except ValueError:
                raise ConfigError(
                    f"train.block_size_probs={self.block_size_probs!r}: {item.strip()!r} is not SIZE:PROB "
                    "(e.g. 4:0.25,8:0.5,16:0.25)"
                ) from None
        return out

    def check(self) -> None:
        super().check()
        one_of(self, "train", "stage", (1, 2))
        one_of(self, "train", "latent_evolution", ("joint", "fixed_vae", "scratch", "interval"))
        non_negative(self, "train", ("vae_lr_ratio",))
        positive(self, "train", ("interval_steps", "latent_stats_batches"))
        choices = self.block_size_choices()
        key = f"train.block_size_probs={self.block_size_probs!r}"
        if any(size <= 0 or prob <= 0 for size, prob in choices):
            raise ConfigError(f"{key}: every size and probability must be positive")
        if len({size for size, _ in choices}) != len(choices):
            raise ConfigError(f"{key}: a block size is listed twice")
        if choices and abs(sum(prob for _, prob in choices) - 1.0) > 1e-6:
            raise ConfigError(f"{key}: the probabilities must sum to 1")


@dataclass
class ColaSamplerConfig(SamplerConfig):
    """The block-wise ODE sampler: steps per block, solver and classifier-free guidance."""

    steps: int = 16
    """ODE steps per block."""
    cfg: float = 4.0
    """Classifier-free guidance weight: v_u + w (v_c - v_u)."""
    solver: str = "euler"
    """ODE solver: `euler` or `heun`."""
    block_size: int = 0
    """Latents per block when sampling and evaluating (ELBO, diagnostics); 0: `model.block_size`. A model
    trained with `train.block_size_probs` samples at any of those sizes."""
    partial_patch_candidates: int = 1
    """A prompt that ends inside a patch (`model.boundary = official`) is sampled this many times, and the
    candidate whose partial-patch latent gives the prompt's own tokens in it the highest decoder likelihood is
    kept (1: the paper's single draw; costs N x the prompt's generation)."""

    def check(self) -> None:
        super().check()
        positive(self, "sampler", ("steps", "partial_patch_candidates"))
        non_negative(self, "sampler", ("cfg", "block_size"))
        one_of(self, "sampler", "solver", ("euler", "heun"))


COLA_SECTIONS: dict[str, type] = {
    "model": ColaModelConfig,
    "objective": ColaObjectiveConfig,
    "train": ColaTrainConfig,
    "sampler": ColaSamplerConfig,
}


def cola_model_config(cfg: Config | Any) -> ColaModelConfig:
    """The model section of a Cola config (or a model section itself), typed."""
    return section_as(cfg.model if isinstance(cfg, Config) else cfg, ColaModelConfig)


def cola_objective_config(cfg: Config) -> ColaObjectiveConfig:
    """The objective section of a Cola config, typed."""
    return section_as(cfg.objective, ColaObjectiveConfig)


def cola_train_config(cfg: Config) -> ColaTrainConfig:
    """The train section of a Cola config, typed."""
    return section_as(cfg.train, ColaTrainConfig)


def cola_sampler_config(cfg: Config) -> ColaSamplerConfig:
    """The sampler section of a Cola config, typed."""
    return section_as(cfg.sampler, ColaSamplerConfig)
