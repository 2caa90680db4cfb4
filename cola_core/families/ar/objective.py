"""Next-token cross-entropy, and exact NLL for evaluation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.config import Config
from cola_core.registry import LossOutput


class NextTokenLoss:
    """Mean CE of predicting tokens[:, 1:] from tokens[:, :-1]."""

    def __call__(self, model: nn.Module, tokens: torch.Tensor, step: int = 0) -> LossOutput:
        logits = model(tokens[:, :-1])  # (B, L-1, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten())
        return LossOutput(loss=loss, metrics={"ce": loss.item()})


@torch.no_grad()
def ar_eval_loss(model: nn.Module, tokens: torch.Tensor, cfg: Config) -> dict[str, float]:
    """Exact NLL per token (nats) and perplexity on a held-out batch."""
    logits = model(tokens[:, :-1])
    nll = F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten()).item()
    return {"eval_loss": nll, "nll_per_token": nll, "ppl": math.exp(min(nll, 50.0))}
