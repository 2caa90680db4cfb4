"""Pre-norm transformer block and stack (AR, LLaDA and the Text VAE share them)."""

from __future__ import annotations

import torch
from torch import nn

from cola_core.nn.attention import Attention, KVCache
from cola_core.nn.mlp import SwiGLU


class PreNormBlock(nn.Module):
    """x + attn(norm(x)); x + swiglu(norm(x))."""

    def __init__(self, dim: int, n_heads: int, ffn_hidden: int, rope_theta: float):
        super().__init__()
        self.attn_norm = nn.RMSNorm(dim)
        self.attn = Attention(dim, n_heads, rope_theta)
        self.mlp_norm = nn.RMSNorm(dim)
        self.mlp = SwiGLU(dim, ffn_hidden)

    def forward(self, x, positions, mask, cache: KVCache | None = None, commit: int = 0) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), positions, mask, cache, commit)
        return x + self.mlp(self.mlp_norm(x))


class TransformerStack(nn.Module):
    """A stack of pre-norm blocks with a final norm; masks and positions come from the caller."""

    def __init__(self, dim: int, n_layers: int, n_heads: int, ffn_hidden: int, rope_theta: float):
        super().__init__()
        self.blocks = nn.ModuleList(PreNormBlock(dim, n_heads, ffn_hidden, rope_theta) for _ in range(n_layers))
        self.norm = nn.RMSNorm(dim)

    def new_cache(self) -> list[KVCache]:
        """One empty KV cache per layer."""
        return [KVCache() for _ in self.blocks]

    def forward(
        self, x, positions, mask, caches: list[KVCache] | None = None, update_cache: bool = False
    ) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C); `update_cache` stores all T new positions in the caches."""
        commit = x.shape[1] if update_cache else 0
        for i, block in enumerate(self.blocks):
            x = block(x, positions, mask, None if caches is None else caches[i], commit)
        return self.norm(x)


def init_linear_weights(module: nn.Module, std: float = 0.02) -> None:
    """Normal(0, std) for Linear/Embedding weights, zeros for biases (GPT-2 style)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
