"""Token-in, logits-out transformer shared by the AR and LLaDA families (they differ only in mask)."""

from __future__ import annotations

import torch
from torch import nn

from cola_core.config import ModelConfig, TokenModelConfig, section_as
from cola_core.nn.attention import KVCache
from cola_core.nn.transformer import TransformerStack, init_linear_weights


def token_model_config(m: ModelConfig) -> TokenModelConfig:
    """A model section as the AR / LLaDA `TokenModelConfig` (ConfigError for another family's section)."""
    return section_as(m, TokenModelConfig)


class TokenTransformer(nn.Module):
    """Embedding -> pre-norm transformer stack -> vocabulary head."""

    def __init__(self, model_config: ModelConfig):
        super().__init__()
        m = token_model_config(model_config)
        self.embed = nn.Embedding(m.vocab_size, m.dim)
        self.stack = TransformerStack(m.dim, m.n_layers, m.n_heads, m.backbone_ffn(), m.rope_theta)
        self.head = nn.Linear(m.dim, m.vocab_size, bias=False)
        init_linear_weights(self)
        if m.tie_embeddings:
            self.head.weight = self.embed.weight

    def new_cache(self) -> list[KVCache]:
        """Empty per-layer KV caches."""
        return self.stack.new_cache()

    def forward(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor | None,
        positions: torch.Tensor | None = None,
        caches: list[KVCache] | None = None,
        update_cache: bool = False,
        logits_for: slice | None = None,
    ) -> torch.Tensor:
        """tokens (B, T) -> logits (B, T, V). Positions default to cache offset .. offset+T-1.

        `logits_for` limits the vocabulary projection to those positions (B, T', V): a sampler that
        only reads a few positions skips the rest of the head's matmul."""
        if positions is None:
            offset = 0 if caches is None else caches[0].length
            positions = torch.arange(offset, offset + tokens.shape[1], device=tokens.device)
        h = self.stack(self.embed(tokens), positions, mask, caches, update_cache)  # (B, T, C)
        return self.head(h if logits_for is None else h[:, logits_for])


def token_transformer_params(model_config: ModelConfig) -> tuple[int, int]:
    """(total, non_embedding) parameters of `TokenTransformer(m)`, counted from the config."""
    m = token_model_config(model_config)
    d, f = m.dim, m.backbone_ffn()
    per_layer = 2 * d + 4 * d * d + 3 * d * f  # two RMSNorms, qkv + proj, SwiGLU
    non_embedding = m.n_layers * per_layer + d  # + final norm
    embedding = m.vocab_size * d * (1 if m.tie_embeddings else 2)
    return non_embedding + embedding, non_embedding


def token_transformer_forward_flops(model_config: ModelConfig, seq_len: int) -> float:
    """Forward matmul FLOPs per token: 2 x every weight matrix + dense attention scores (4 * T * d per layer).

    SDPA computes all T x T scores even under a causal mask, so attention is counted dense. This is
    what `torch.utils.flop_counter.FlopCounterMode` reports under the MATH SDPA backend (on CPU it
    reports 0 for the fused kernels, so the FLOPs tests pin the MATH backend).
    """
    m = token_model_config(model_config)
    d, f = m.dim, m.backbone_ffn()
    matmul_params = m.n_layers * (4 * d * d + 3 * d * f) + m.vocab_size * d  # head; the embedding is a lookup
    return 2.0 * matmul_params + m.n_layers * 4.0 * seq_len * d
