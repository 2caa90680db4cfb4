"""LLaDA's readable signal: masked CE at fixed mask ratios (computed at every evaluation).

The training loss (and the Monte Carlo bound) average the masked CE over t ~ U(0, 1); heavily masked
positions dominate that average, and it sits near the unigram entropy even while the model improves.
CE at a fixed ratio (15 %: mostly real context; 50 %: half of it) moves as soon as the model uses
its context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.config import Config

FIXED_RATIOS = (0.15, 0.5)


@torch.no_grad()
def masked_ce_at_ratio(model: nn.Module, tokens: torch.Tensor, mask_id: int, ratio: float) -> float:
    """Mean CE over the positions of tokens (B, L) masked independently with probability `ratio`
    (at least one position per batch), under the caller's RNG."""
    masked = torch.rand(tokens.shape, device=tokens.device) < ratio  # (B, L)
    if not bool(masked.any()):
        masked.view(-1)[0] = True  # (B*L,) view: mask one
    noisy = torch.where(masked, torch.full_like(tokens, mask_id), tokens)
    logits = model(noisy)  # (B, L, V)
    return F.cross_entropy(logits[masked].float(), tokens[masked]).item()


def llada_diagnostics(model: nn.Module, tokens: torch.Tensor, cfg: Config) -> dict[str, float]:
    """`masked_ce_15` and `masked_ce_50` on a held-out batch (nats per masked token)."""
    return {
        f"masked_ce_{round(r * 100)}": masked_ce_at_ratio(model, tokens, cfg.model.mask_id, r) for r in FIXED_RATIOS
    }
