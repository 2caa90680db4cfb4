"""The block-causal DiT prior: adaLN-Zero transformer over latents with a per-token timestep.

Follows the official `modeling_cola_dit.py` (reference §1.3): non-affine LayerNorm (eps 1e-6) ->
`norm(x) * (1 + scale) + shift` -> attention (QK-norm, RoPE) -> gated residual `x + gate * attn`,
the same around a GELU(tanh) MLP; modulation linears zero-initialised so a fresh block is the
identity; every other Linear xavier-uniform; final layer LayerNorm + adaLN shift/scale -> Linear to
the latent channels, predicting the flow velocity. The mask is always supplied by the caller.
"""

from __future__ import annotations

import torch
from torch import nn

from cola_core.families.cola.config import ColaModelConfig
from cola_core.nn.attention import Attention, KVCache
from cola_core.nn.mlp import GeluMLP
from cola_core.nn.timestep import TimestepEmbedder, sinusoidal_features


def init_adaln_zero(module: nn.Module, ada: nn.Linear) -> None:
    """xavier-uniform every Linear of `module` (zero biases), then zero the adaLN modulation linear `ada`."""
    for mod in module.modules():
        if isinstance(mod, nn.Linear):
            nn.init.xavier_uniform_(mod.weight)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
    nn.init.zeros_(ada.weight)
    nn.init.zeros_(ada.bias)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: x * (1 + scale) + shift (all (B, T, C))."""
    return x * (1.0 + scale) + shift


class DiTBlock(nn.Module):
    """adaLN-Zero block: gated attention and gated GELU MLP, each modulated by the timestep embedding."""

    def __init__(self, dim: int, n_heads: int, ffn_hidden: int, rope_theta: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, n_heads, rope_theta, qk_norm=True, bias=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = GeluMLP(dim, ffn_hidden)
        ada = nn.Linear(dim, 6 * dim)
        self.ada = nn.Sequential(nn.SiLU(), ada)
        init_adaln_zero(self, ada)  # a fresh block is exactly the identity

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
        commit: int = 0,
    ) -> torch.Tensor:
        """x, c (B, T, C) -> (B, T, C); the first `commit` positions' keys/values go into the cache."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)  # 6 x (B, T, C)
        h = self.attn(modulate(self.norm1(x), shift1, scale1), positions, mask, cache, commit)
        x = x + gate1 * h
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    """LayerNorm (affine, as in the official code) + adaLN shift/scale -> Linear(dim, latent_dim)."""

    def __init__(self, dim: int, latent_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        ada = nn.Linear(dim, 2 * dim)
        self.ada = nn.Sequential(nn.SiLU(), ada)
        self.out = nn.Linear(dim, latent_dim)
        init_adaln_zero(self, ada)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x, c (B, T, C) -> velocity (B, T, d)."""
        shift, scale = self.ada(c).chunk(2, dim=-1)  # 2 x (B, T, C)
        return self.out(modulate(self.norm(x), shift, scale))


class BlockCausalDiT(nn.Module):
    """Velocity model v(z_t, t) over normalised latents; masks, positions and caches come from the caller."""

    def __init__(self, m: ColaModelConfig):
        super().__init__()
        self.in_proj = nn.Linear(m.latent_dim, m.dim)
        self.t_embed = TimestepEmbedder(m.dim, m.timestep_freq_dim)
        self.blocks = nn.ModuleList(
            DiTBlock(m.dim, m.n_heads, m.backbone_ffn(), m.rope_theta) for _ in range(m.n_layers)
        )
        self.final = FinalLayer(m.dim, m.latent_dim)
        for module in (self.in_proj, self.t_embed):  # blocks and final layer initialise themselves (adaLN-Zero)
            for mod in module.modules():
                if isinstance(mod, nn.Linear):
                    nn.init.xavier_uniform_(mod.weight)
                    nn.init.zeros_(mod.bias)

    def new_cache(self) -> list[KVCache]:
        """One empty KV cache per block (clean context blocks)."""
        return [KVCache() for _ in self.blocks]

    def forward(
        self,
        z: torch.Tensor,
        t: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        caches: list[KVCache] | None = None,
        commit: int = 0,
    ) -> torch.Tensor:
        """z (B, T, d) at per-token times t (B, T) and `positions` (T,) -> velocity (B, T, d).

        With caches, keys are [cached | new] and `mask` (if any) spans them; the first `commit` of the
        T positions are stored in the caches (a finished block riding along with the next block's step).
        """
        x = self.in_proj(z)  # (B, T, C)
        c = self.t_embed.mlp(sinusoidal_features(t, self.t_embed.freq_dim).to(x.dtype))  # (B, T, C)
        for i, block in enumerate(self.blocks):
            cache = None if caches is None else caches[i]
            x = block(x, c, positions, mask, cache, commit)
        return self.final(x, c)
