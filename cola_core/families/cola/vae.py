"""The Text VAE: a strictly causal transformer encoder q(z0 | x) and decoder p(x | z0).

Both run at latent granularity: with patch size p, latent j pools tokens jp .. jp+p-1 and the decoder
turns latent j back into those p tokens. Latent j sees only latents <= j in both directions, so a
whole DiT block of latents can be decoded in one parallel call (with a KV cache of earlier blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.families.cola.config import ColaModelConfig
from cola_core.families.cola.masks import key_padding_mask, vae_causal_mask
from cola_core.nn.attention import KVCache
from cola_core.nn.transformer import TransformerStack, init_linear_weights

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


@dataclass
class Posterior:
    """Diagonal Gaussian q(z0 | x): mean and log-variance, each (B, N, d)."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + exp(logvar / 2) * eps (reparameterised)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.logvar) * eps

    def mode(self) -> torch.Tensor:
        """The posterior mode (= mean), used to encode prompts."""
        return self.mean


def measure_logsnr(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """VAE logSNR = log(E[mean^2] / E[exp(logvar)]) over every latent entry (paper App. H.7)."""
    return torch.log(mean.float().pow(2).mean() / torch.exp(logvar.float()).mean())


class VAEEncoder(nn.Module):
    """Tokens (B, L) -> Posterior over (B, L/p, d): embed -> patch -> causal stack -> Gaussian head."""

    def __init__(self, m: ColaModelConfig):
        super().__init__()
        self.patch_size, self.latent_dim = m.patch_size, m.latent_dim
        self.fixed_logsnr = m.fixed_logsnr()
        e = m.vae_dim
        self.embed = nn.Embedding(m.vocab_size, e)
        # reshape + Linear == Conv1d(kernel=stride=p): latent j pools tokens jp .. jp+p-1.
        self.patch = nn.Linear(m.patch_size * e, e) if m.patch_size > 1 else None
        self.stack = TransformerStack(e, m.vae_layers, m.vae_heads, m.vae_ffn(), m.rope_theta)
        # In `fixed:v` mode only the mean is predicted; logvar is the constant -v.
        self.head = nn.Linear(e, m.latent_dim * (1 if self.fixed_logsnr is not None else 2))

    def forward(self, tokens: torch.Tensor) -> Posterior:
        """tokens (B, L), L a multiple of p -> Posterior with mean/logvar (B, L/p, d)."""
        B, L = tokens.shape
        h = self.embed(tokens)  # (B, L, E)
        if self.patch is not None:
            h = self.patch(h.reshape(B, L // self.patch_size, -1))  # (B, N, p*E) -> (B, N, E)
        n = h.shape[1]
        positions = torch.arange(n, device=tokens.device)
        h = self.stack(h, positions, vae_causal_mask(n, device=tokens.device))
        out = self.head(h)  # (B, N, d) or (B, N, 2d)
        if self.fixed_logsnr is not None:
            mean = out
            logvar = torch.full_like(mean, -self.fixed_logsnr)
        else:
            mean, logvar = out.chunk(2, dim=-1)  # each (B, N, d)
        mean = F.layer_norm(mean, (self.latent_dim,))  # non-affine: ~zero mean, unit power per latent
        return Posterior(mean=mean, logvar=logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))


class VAEDecoder(nn.Module):
    """Latents (B, N, d) -> logits (B, N*p, V): Linear -> causal stack (KV cache) -> unpatch -> norm -> head."""

    def __init__(self, m: ColaModelConfig):
        super().__init__()
        self.patch_size = m.patch_size
        e = m.vae_dim
        self.in_proj = nn.Linear(m.latent_dim, e)
        self.stack = TransformerStack(e, m.vae_layers, m.vae_heads, m.vae_ffn(), m.rope_theta)
        self.unpatch = nn.Linear(e, m.patch_size * e) if m.patch_size > 1 else None
        self.norm = nn.RMSNorm(e)
        self.head = nn.Linear(e, m.vocab_size, bias=False)

    def new_cache(self) -> list[KVCache]:
        """Empty per-layer KV caches for block-wise decoding."""
        return self.stack.new_cache()

    def forward(
        self,
        z: torch.Tensor,
        caches: list[KVCache] | None = None,
        update_cache: bool = False,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z (B, N, d) (un-normalised latents, after any cached ones) -> logits (B, N*p, V).

        `valid` (B, past + N): False at keys no query may attend (a sampler's left padding)."""
        B, n, _ = z.shape
        past = 0 if caches is None else caches[0].length
        positions = torch.arange(past, past + n, device=z.device)
        mask = vae_causal_mask(n, past + n, device=z.device)
        if valid is not None:
            mask = key_padding_mask(mask, valid)  # (B, 1, N, past + N)
        h = self.stack(self.in_proj(z), positions, mask, caches, update_cache)  # (B, N, E)
        if self.unpatch is not None:
            h = self.unpatch(h).reshape(B, n * self.patch_size, -1)  # (B, N, p*E) -> (B, N*p, E)
        return self.head(self.norm(h))  # (B, N*p, V)

    def decode_blocks(self, history: torch.Tensor, blocks: torch.Tensor, block_size: int) -> torch.Tensor:
        """Decode every block of `blocks` (B, N, d) after the *real* earlier blocks of `history` (B, N, d).

        Latent j of block b sees history latents of blocks < b and block-b latents <= j: exactly
        what the sampler's decoder sees when block b is generated after a real prefix, for all
        blocks in one pass over the 2N layout [history | blocks] -> logits (B, N*p, V).
        """
        B, n, _ = blocks.shape
        blk = torch.arange(n, device=blocks.device) // block_size
        pos = torch.arange(n, device=blocks.device)
        hist_hist = pos[None, :] <= pos[:, None]  # causal over the history
        block_hist = blk[None, :] < blk[:, None]  # earlier blocks only
        block_block = (blk[None, :] == blk[:, None]) & hist_hist  # causal within the own block
        mask = torch.cat(
            [torch.cat([hist_hist, torch.zeros_like(hist_hist)], 1), torch.cat([block_hist, block_block], 1)], 0
        )  # (2N, 2N)
        x = self.in_proj(torch.cat([history, blocks], dim=1))  # (B, 2N, E)
        h = self.stack(x, torch.cat([pos, pos]), mask)[:, n:]  # (B, N, E)
        if self.unpatch is not None:
            h = self.unpatch(h).reshape(B, n * self.patch_size, -1)  # (B, N, p*E) -> (B, N*p, E)
        return self.head(self.norm(h))  # (B, N*p, V)


class TextVAE(nn.Module):
    """Encoder + decoder; GPT-2 style init (normal 0.02, zero biases)."""

    def __init__(self, m: ColaModelConfig):
        super().__init__()
        self.encoder = VAEEncoder(m)
        self.decoder = VAEDecoder(m)
        init_linear_weights(self)

    def encode(self, tokens: torch.Tensor) -> Posterior:
        """tokens (B, L) -> q(z0 | x) over (B, L/p, d)."""
        return self.encoder(tokens)

    def decode(self, z: torch.Tensor, caches: list[KVCache] | None = None, update_cache: bool = False) -> torch.Tensor:
        """z (B, N, d) -> logits (B, N*p, V)."""
        return self.decoder(z, caches, update_cache)
