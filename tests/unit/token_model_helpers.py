"""Tiny AR / LLaDA models for unit tests: a small storyworld BPE and a seeded 2-layer, 32-wide model."""

import torch
from torch import nn

from cola_core.config import Config, apply_overrides
from cola_core.data.storyworld import generate_story
from cola_core.data.tokenizer import TextTokenizer, train_bpe
from cola_core.registry import get_family


def story_tokenizer(vocab_size: int = 300) -> TextTokenizer:
    """A BPE trained on 60 storyworld stories."""
    return train_bpe((generate_story(i).text for i in range(60)), vocab_size=vocab_size)


def tiny_token_model(tok: TextTokenizer, family: str, seq_len: int, **overrides) -> tuple[Config, nn.Module]:
    """(config, model in eval mode) of a token-level family (`ar`, `llada`) sized for milliseconds per call,
    with the tokenizer's special ids; the weights are seeded (torch.manual_seed(0))."""
    cfg = apply_overrides(
        Config.for_family(family),
        {
            "model.vocab_size": tok.vocab_size,
            "model.dim": 32,
            "model.n_heads": 4,
            "model.n_layers": 2,
            "data.seq_len": seq_len,
            "model.eos_id": tok.eos_id,
            "model.mask_id": tok.mask_id,
            **overrides,
        },
    )
    torch.manual_seed(0)
    return cfg, get_family(family).build_model(cfg).eval()


# Mixed lengths (0, 1, 3, 4): several groups, one split by batch_size=2, and the lengths interleaved
# so that grouping reorders the work; the output must come back in this order.
MIXED_PROMPTS = [
    [5, 6, 7, 8],
    [9],
    [],
    [11, 12, 13],
    [5, 6, 7, 9],
    [20, 21, 22, 23],
    [9],
    [30, 31, 32],
    [],
    [40, 41, 42, 43],
    [7, 7, 7],
]
