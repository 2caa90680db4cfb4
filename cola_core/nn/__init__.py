"""Shared layers: RoPE, masked attention with KV cache, MLPs, adaLN, timestep embedding, blocks."""

from cola_core.nn.attention import Attention, KVCache
from cola_core.nn.mlp import GeluMLP, SwiGLU
from cola_core.nn.rope import Rotary
from cola_core.nn.timestep import TimestepEmbedder
from cola_core.nn.transformer import PreNormBlock, TransformerStack

__all__ = [
    "Attention",
    "KVCache",
    "GeluMLP",
    "SwiGLU",
    "Rotary",
    "TimestepEmbedder",
    "PreNormBlock",
    "TransformerStack",
]
