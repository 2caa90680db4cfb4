"""Rotary position embedding (RoPE) with explicit position ids.

Explicit positions matter for Cola's "2L" layout, where the clean and the noisy half of the DiT
input share positions 0..L-1, and for KV-cached decoding, where new tokens start at an offset.
"""

from __future__ import annotations

import torch
from torch import nn


class Rotary(nn.Module):
    """Applies RoPE to (B, H, T, Dh) tensors at given integer positions."""

    inv_freq: torch.Tensor

    def __init__(self, head_dim: int, theta: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dim, got {head_dim}")
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def cos_sin(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (T,) -> cos, sin of shape (1, 1, T, Dh/2), computed in fp32."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]  # (T, Dh/2)
        return angles.cos()[None, None], angles.sin()[None, None]

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotate pairs (x[..., :Dh/2], x[..., Dh/2:]) of x (B, H, T, Dh)."""
        x1, x2 = x.float().chunk(2, dim=-1)  # each (B, H, T, Dh/2)
        out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
        return out.to(x.dtype)
