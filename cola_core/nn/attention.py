"""Multi-head self-attention with RoPE, optional QK-norm, an explicit boolean mask and a KV cache.

Every family builds its own mask (causal, bidirectional, block-causal, the 2L layout) and passes it
in; the attention itself is mask-agnostic and runs through `scaled_dot_product_attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.nn.rope import Rotary


class KVCache:
    """One layer's keys and values in a preallocated buffer (B, H, capacity, Dh) that grows by doubling.

    The first `length` positions are committed. `attend(k, v, commit)` writes a call's new keys/values
    right after them and returns views over [committed | new]; the first `commit` new positions become
    committed, the rest are overwritten by the next call. Nothing is concatenated, so decoding does
    not re-allocate per step.
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.length = 0

    def attend(self, k: torch.Tensor, v: torch.Tensor, commit: int) -> tuple[torch.Tensor, torch.Tensor]:
        """k, v (B, H, T, Dh) -> keys/values (B, H, length + T, Dh); then `length += commit`."""
        if not 0 <= commit <= k.shape[2]:
            raise ValueError(f"commit={commit} must lie in [0, {k.shape[2]}]")
        if self.length == 0 and commit == 0:
            return k, v  # nothing cached, nothing to keep
        end = self.length + k.shape[2]
        if self.k is None or self.k.shape[0] != k.shape[0] or end > self.k.shape[2]:
            self._grow(k, end)
        assert self.k is not None and self.v is not None
        self.k[:, :, self.length : end] = k
        self.v[:, :, self.length : end] = v
        k_all, v_all = self.k[:, :, :end], self.v[:, :, :end]  # views, (B, H, length + T, Dh)
        self.length += commit
        return k_all, v_all

    def _grow(self, like: torch.Tensor, needed: int) -> None:
        """(Re)allocate for at least `needed` positions, keeping the committed ones."""
        B, H, _, Dh = like.shape
        if self.k is not None and self.length and self.k.shape[0] != B:
            raise ValueError(f"the cache holds batch {self.k.shape[0]}, this call has batch {B}")
        capacity = max(needed, 2 * (0 if self.k is None else self.k.shape[2]), 64)
        k, v = like.new_empty(B, H, capacity, Dh), like.new_empty(B, H, capacity, Dh)
        if self.length:
            assert self.k is not None and self.v is not None
            k[:, :, : self.length], v[:, :, : self.length] = self.k[:, :, : self.length], self.v[:, :, : self.length]
        self.k, self.v = k, v


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
        commit: int = 0,
    ) -> torch.Tensor:
        """x (B, T, C) at `positions` (T,). With a cache, keys are [cached | new], the mask (if any)
        spans them, and the first `commit` new positions are stored in the cache."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, Dh)
        q, k = self.q_norm(q), self.k_norm(k)
        cos, sin = self.rotary.cos_sin(positions)
        q, k = Rotary.rotate(q, cos, sin), Rotary.rotate(k, cos, sin)
        if cache is not None:
            k, v = cache.attend(k, v, commit)  # (B, H, T_cache + T, Dh)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, Dh)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(y)
