"""Exact parameter and FLOPs counts of the LLaDA family, from the config alone."""

from __future__ import annotations

from cola_core.config import Config, ModelConfig
from cola_core.nn.token_model import token_transformer_forward_flops, token_transformer_params
from cola_core.registry import FlopsPerToken, ParamCounts


def llada_param_counts(m: ModelConfig) -> ParamCounts:
    """Same architecture as AR: total, non-embedding (= backbone, the matched part)."""
    total, non_embedding = token_transformer_params(m)
    return ParamCounts(total=total, non_embedding=non_embedding, backbone=non_embedding)


def llada_flops_per_token(cfg: Config) -> FlopsPerToken:
    """Forward = 2 x matmul params (head included) + dense attention 4 * L * d per layer; train = 3 x forward.

    The model runs on all L positions of every sequence and the head produces logits everywhere
    (the loss then picks the masked ones), so nothing is overcounted. Bidirectional attention
    computes the full L x L score matrix, exactly what the dense term counts. The rare random-length
    batches (`objective.llada_random_length_prob`) are shorter and cost less; they are ignored.
    """
    fwd = token_transformer_forward_flops(cfg.model, cfg.data.seq_len)
    return FlopsPerToken(forward=fwd, train=3.0 * fwd)
