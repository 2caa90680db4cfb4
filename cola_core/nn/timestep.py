"""Sinusoidal timestep embedding + MLP (the DiT / diffusers convention: features of t * 1000)."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_features(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """t (...,) in [0, 1] -> (..., dim) features [sin | cos] of t * 1000 (diffusers, flip_sin_to_cos=False)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * 1000.0)[..., None] * freqs  # (..., half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Per-token timestep embedding: sinusoidal(t) -> Linear -> SiLU -> Linear -> SiLU -> Linear."""

    def __init__(self, out_dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(
            nn.Linear(freq_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t (B, T) -> (B, T, out_dim)."""
        return self.mlp(sinusoidal_features(t, self.freq_dim))
