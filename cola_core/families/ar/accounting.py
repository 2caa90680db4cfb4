"""Exact parameter and FLOPs counts of the AR family, from the config alone."""

from __future__ import annotations

from cola_core.config import Config, ModelConfig
from cola_core.nn.token_model import token_transformer_forward_flops, token_transformer_params
from cola_core.registry import FlopsPerToken, ParamCounts


def ar_param_counts(m: ModelConfig) -> ParamCounts:
    """Total and non-embedding parameters (embedding and head are the embedding part)."""
    total, non_embedding = token_transformer_params(m)
    return ParamCounts(total=total, non_embedding=non_embedding, backbone=non_embedding)


def ar_flops_per_token(cfg: Config) -> FlopsPerToken:
    """Forward = 2 x matmul params + dense attention; training = 3 x forward.

    The objective runs the model on L-1 tokens of each L-token sequence; per *data* token we count
    the model on L positions, a <2 % overcount at L >= 64 that keeps the three families comparable.
    """
    fwd = token_transformer_forward_flops(cfg.model, cfg.data.seq_len)
    return FlopsPerToken(forward=fwd, train=3.0 * fwd)
