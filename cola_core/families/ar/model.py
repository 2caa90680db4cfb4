"""The AR model is a causal `TokenTransformer`."""

from __future__ import annotations

import torch

from cola_core.config import Config
from cola_core.nn.attention import KVCache
from cola_core.nn.masks import causal_mask
from cola_core.nn.token_model import TokenTransformer


class ARModel(TokenTransformer):
    """Decoder-only transformer; `forward` applies the causal mask (offset by the cache length)."""

    def forward(  # type: ignore[override]
        self,
        tokens: torch.Tensor,
        caches: list[KVCache] | None = None,
        update_cache: bool = False,
        logits_for: slice | None = None,
    ) -> torch.Tensor:
        """tokens (B, T) -> next-token logits (B, T, V) (or only at `logits_for`)."""
        T = tokens.shape[1]
        past = 0 if caches is None else caches[0].length
        mask = None if T == 1 else causal_mask(T, past + T, device=tokens.device)  # one new token sees everything
        return super().forward(tokens, mask, caches=caches, update_cache=update_cache, logits_for=logits_for)


def build_ar_model(cfg: Config) -> ARModel:
    """Build the AR model from the resolved config."""
    return ARModel(cfg.model)
