"""Attention masks of the Cola family (boolean, True = may attend).

* The Text VAE is strictly causal at latent granularity (`vae_causal_mask`).
* The DiT trains on the "2L" layout `[z0 clean | z_t noisy]`, both halves at positions 0..L-1
  (`two_l_mask`); a noisy query in block b sees clean blocks < b and its own noisy block only.
* At sampling time the DiT sees a block-causal clean prefix (`prefix_mask`) and, for the current
  block, everything already cached plus the block itself (no mask needed).
* The sampler batches prompts of different lengths left-padded; `key_padding_mask` hides the
  padded keys from every query of a row.
"""

from __future__ import annotations

import torch

from cola_core.nn.masks import block_causal_mask, causal_mask


def vae_causal_mask(t_q: int, t_k: int | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Latent j sees latents <= j; the queries are the last `t_q` of `t_k` positions (KV cache)."""
    return causal_mask(t_q, t_k, device=device)


def two_l_mask(n: int, block_size: int, device: torch.device | None = None, context: bool = True) -> torch.Tensor:
    """The (2n, 2n) training mask of the 2L layout; rows/cols 0..n-1 clean, n..2n-1 noisy.

    clean q (block b) -> clean k in blocks <= b;  clean q -> noisy k: never;
    noisy q (block b) -> clean k in blocks < b;   noisy q -> noisy k in block b only.
    `context=False` cuts the noisy -> clean part: every noisy block sees only itself (the
    unconditional branch of guidance, and the "without context" diagnostic).
    """
    blk = torch.arange(n, device=device) // block_size
    bq, bk = blk[:, None], blk[None, :]  # (n, 1), (1, n)
    clean_clean = bk <= bq
    clean_noisy = torch.zeros(n, n, dtype=torch.bool, device=device)
    noisy_clean = (bk < bq) & context
    noisy_noisy = bk == bq
    top = torch.cat([clean_clean, clean_noisy], dim=1)  # (n, 2n)
    bottom = torch.cat([noisy_clean, noisy_noisy], dim=1)  # (n, 2n)
    return torch.cat([top, bottom], dim=0)  # (2n, 2n)


def prefix_mask(n: int, block_size: int, device: torch.device | None = None) -> torch.Tensor:
    """Block-causal (n, n) mask over clean latents (a prompt's complete blocks; the no-cache sampler)."""
    return block_causal_mask(n, block_size, device=device)


def key_padding_mask(mask: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Restrict `mask` (T_q, T_k) to the valid keys of each row: valid (B, T_k) -> (B, 1, T_q, T_k).

    The queries are the last T_q of the T_k positions (as with a KV cache). A query at a padded
    position sees only itself: an all-masked softmax row would be NaN, and although padded keys get
    weight exactly 0 from every real query, 0 * NaN in the next layer's values would still be NaN.
    """
    t_q, t_k = mask.shape
    out = mask[None] & valid[:, None, :]  # (B, T_q, T_k)
    own = torch.zeros(t_q, t_k, dtype=torch.bool, device=mask.device)
    own[:, t_k - t_q :] = torch.eye(t_q, dtype=torch.bool, device=mask.device)  # query i <-> key t_k - t_q + i
    out = out | (own[None] & ~valid[:, t_k - t_q :, None])  # padded queries: themselves only
    return out[:, None]
