"""Multi-head self-attention with RoPE, optional QK-norm, an explicit boolean mask and a KV cache.

Every family builds its own mask (causal, bidirectional, block-causal, the 2L layout) and passes it
in; the attention itself is mask-agnostic and runs through `scaled_dot_product_attention`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.nn.rope import Rotary


@dataclass
class KVCache:
    """Keys and values of already-processed positions for one layer, each (B, H, T_cache, Dh)."""

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def extended(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached keys/values followed by the new ones (the cache itself is not changed)."""
        if self.k is None:
            return k, v
        return torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)

    def append(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store the new keys/values after the cached ones."""
        self.k, self.v = self.extended(k, v)


class Attention(nn.Module):
    """Self-attention. `mask` is boolean (T_q, T_k) or (B, 1, T_q, T_k); True means "may attend"."""

    def __init__(self, dim: int, n_heads: int, rope_theta: float = 10000.0, qk_norm: bool = False, bias: bool = False):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = dim // n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.rotary = Rotary(self.head_dim, rope_theta)
        # QK-norm: affine LayerNorm over each head's q and k (as in the Cola DiT).
        self.q_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
        update_cache: bool = False,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """x (B, T, C) at `positions` (T,). With a cache, keys are [cached | new] and the mask is
        over those keys. `use_cache=False` ignores the cache for this call (CFG's unconditional pass)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, Dh)
        q, k = self.q_norm(q), self.k_norm(k)
        cos, sin = self.rotary.cos_sin(positions)
        q, k = Rotary.rotate(q, cos, sin), Rotary.rotate(k, cos, sin)
        if cache is not None and use_cache:
            k_all, v_all = cache.extended(k, v)  # (B, H, T_cache + T, Dh)
            if update_cache:
                cache.append(k, v)
        else:
            k_all, v_all = k, v
        y = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=mask)  # (B, H, T, Dh)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(y)
