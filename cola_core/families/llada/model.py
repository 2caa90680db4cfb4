"""The LLaDA model is a bidirectional `TokenTransformer`: no causal mask and no timestep input."""

from __future__ import annotations

import torch

from cola_core.config import Config, ConfigError
from cola_core.nn.token_model import TokenTransformer


class LLaDAModel(TokenTransformer):
    """Mask predictor: every position attends to every position; `<mask>` is an ordinary vocabulary id."""

    def forward(self, tokens: torch.Tensor, logits_for: slice | None = None) -> torch.Tensor:  # type: ignore[override]
        """tokens (B, T), some equal to the mask id -> logits (B, T, V) for every position (or `logits_for`)."""
        return super().forward(tokens, None, logits_for=logits_for)


def build_llada_model(cfg: Config) -> LLaDAModel:
    """Build the LLaDA model from the resolved config (the mask id must lie inside the vocabulary)."""
    m = cfg.model
    if not 0 <= m.mask_id < m.vocab_size:
        raise ConfigError(f"model.mask_id={m.mask_id} must lie in [0, model.vocab_size={m.vocab_size}) for LLaDA")
    return LLaDAModel(m)
