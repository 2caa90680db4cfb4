"""Flow matching on normalised latents (DESIGN.md §3, the official convention).

z_t = (1 - t) z0 + t eps with eps ~ N(0, I); the DiT predicts the velocity v = eps - z0; the loss is
the MSE averaged over channels and (masked) over the noisy tokens that carry a loss. t = 1 is pure
noise, so a positive logit-normal location biases training toward noisier times.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cola_core.families.cola.config import ColaObjectiveConfig
from cola_core.families.cola.masks import two_l_mask


def sample_t(
    batch: int, ocfg: ColaObjectiveConfig, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """One time per sequence, (B,): sigmoid(loc + scale * N(0, 1)) (`logit_normal`) or U(0, 1)."""
    if ocfg.t_sampling == "uniform":
        return torch.rand(batch, generator=generator, device=device)
    normal = torch.randn(batch, generator=generator, device=device)
    return torch.sigmoid(ocfg.noise_loc + ocfg.noise_scale * normal)


def clean_prefix_pins(
    batch: int,
    n: int,
    block_size: int,
    prob: float,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Boolean (B, n), True where a noisy-half latent is pinned clean (t = 0, z_t = z0, no loss).

    Each block independently, with probability `prob`, gets a prefix of 1..block_size-1 latents pinned;
    this mimics a prompt that ends inside the first generated block. Every block keeps >= 1 loss token.
    """
    n_blocks = n // block_size
    if prob <= 0 or block_size < 2:
        return torch.zeros(batch, n, dtype=torch.bool, device=device)
    chosen = torch.rand(batch, n_blocks, generator=generator, device=device) < prob  # (B, nb)
    lengths = torch.randint(1, block_size, (batch, n_blocks), generator=generator, device=device)  # (B, nb)
    lengths = torch.where(chosen, lengths, torch.zeros_like(lengths))
    offset = torch.arange(block_size, device=device)  # (bs,)
    pins = offset[None, None, :] < lengths[:, :, None]  # (B, nb, bs)
    return pins.reshape(batch, n_blocks * block_size)  # (B, n)


def interpolate(z0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """z_t = (1 - t) z0 + t eps; `t` broadcasts as (B, T) or (B,) over (B, T, C)."""
    t = t[:, None, None] if t.dim() == 1 else t[..., None]  # (B, 1, 1) or (B, T, 1)
    return (1.0 - t) * z0 + t * eps


def fm_mse(v_pred: torch.Tensor, target: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean over channels of (v - u)^2, then the mean over tokens where `loss_mask` (B, T) is True."""
    per_token = (v_pred.float() - target.float()).pow(2).mean(dim=-1)  # (B, T)
    weights = loss_mask.float()
    return (per_token * weights).sum() / weights.sum().clamp_min(1.0)


@dataclass
class FMBranch:
    """Everything one flow-matching evaluation produced (kept for tests and diagnostics)."""

    loss: torch.Tensor
    v_pred: torch.Tensor
    """(B, n, C) predicted velocity on the noisy half."""
    target: torch.Tensor
    """(B, n, C) eps - z0."""
    loss_mask: torch.Tensor
    """(B, n) True where the noisy latent carries loss (not pinned)."""
    t: torch.Tensor
    """(B,) the per-sequence time."""


def fm_branch(
    dit: nn.Module,
    zn: torch.Tensor,
    ocfg: ColaObjectiveConfig,
    block_size: int,
    generator: torch.Generator | None = None,
) -> FMBranch:
    """Flow-matching loss of the block-causal DiT on normalised latents `zn` (B, n, C) in the 2L layout.

    The clean half is `zn.detach()`: context latents are stop-gradient. The noisy half z_t and the
    target eps - z0 keep their gradient path to the encoder (the VAE co-adapts with the prior when it
    is trainable); pinned-clean prefix positions of the noisy half get t = 0, z_t = z0 and no loss.
    """
    B, n, _ = zn.shape
    device = zn.device
    t = sample_t(B, ocfg, generator, device)  # (B,)
    eps = torch.randn(zn.shape, generator=generator, device=device, dtype=zn.dtype)
    pins = clean_prefix_pins(B, n, block_size, ocfg.clean_prefix_prob, generator, device)  # (B, n)
    t_tok = torch.where(pins, torch.zeros_like(t[:, None]), t[:, None].expand(B, n))  # (B, n)
    z_t = torch.where(pins[..., None], zn, interpolate(zn, eps, t))  # (B, n, C)
    x = torch.cat([zn.detach(), z_t], dim=1)  # (B, 2n, C)
    t_all = torch.cat([torch.zeros_like(t_tok), t_tok], dim=1)  # (B, 2n)
    pos = torch.arange(n, device=device)
    positions = torch.cat([pos, pos])  # (2n,)
    v = dit(x, t_all, positions, two_l_mask(n, block_size, device))[:, n:]  # (B, n, C)
    target = eps - zn
    loss_mask = ~pins
    return FMBranch(loss=fm_mse(v, target, loss_mask), v_pred=v, target=target, loss_mask=loss_mask, t=t)
