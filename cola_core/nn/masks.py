"""Boolean attention masks (True = may attend), shaped (T_q, T_k)."""

from __future__ import annotations

import torch


def causal_mask(t_q: int, t_k: int | None = None, device=None) -> torch.Tensor:
    """Query i (the last t_q of t_k positions) sees keys 0..offset+i."""
    t_k = t_q if t_k is None else t_k
    offset = t_k - t_q
    q = torch.arange(t_q, device=device)[:, None] + offset
    k = torch.arange(t_k, device=device)[None, :]
    return k <= q


def block_causal_mask(t: int, block_size: int, device=None) -> torch.Tensor:
    """Position i sees j iff block(j) <= block(i): bidirectional within a block, causal across."""
    b = torch.arange(t, device=device) // block_size
    return b[None, :] <= b[:, None]
