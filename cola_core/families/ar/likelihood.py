"""Exact token log-likelihood of the AR family (its `score_tokens` hook, used by log-likelihood benchmarks)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.config import Config


@torch.no_grad()
def ar_score_tokens(
    model: nn.Module, cfg: Config, tokens: torch.Tensor, n_targets: list[int], mc_num: int = 0
) -> list[tuple[float, bool]]:
    """Per row of tokens (B, T): (sum of log p(x_t | x_<t) over its last n_targets[i] tokens, whether
    each of them is the argmax). One forward for the whole batch; `cfg` and `mc_num` are unused (exact)."""
    device = next(model.parameters()).device
    tokens = tokens.to(device)
    logp = F.log_softmax(model(tokens[:, :-1]).float(), dim=-1)  # (B, T-1, V): position t predicts token t+1
    target = tokens[:, 1:]  # (B, T-1)
    token_logp = logp.gather(-1, target[..., None])[..., 0]  # (B, T-1, 1) -> (B, T-1)
    greedy = logp.argmax(dim=-1) == target  # (B, T-1)
    width = target.shape[1]
    out = []
    for i, n in enumerate(n_targets):
        if not 1 <= n <= width:
            raise ValueError(f"n_targets[{i}]={n} must be in 1..{width} (rows of {width + 1} tokens)")
        out.append((token_logp[i, width - n :].sum().item(), bool(greedy[i, width - n :].all())))
    return out
