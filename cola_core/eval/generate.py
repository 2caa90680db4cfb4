"""Text-in, text-out generation over any family's sampler (what the task harness calls)."""

from __future__ import annotations

from torch import nn

from cola_core.config import Config
from cola_core.data.tokenizer import TextTokenizer
from cola_core.eval.harness import GenerateFn
from cola_core.registry import FamilySpec


def max_prompt_tokens(cfg: Config, max_new_tokens: int) -> int:
    """Prompts are left-truncated so prompt + generation fits the trained length (at least half of it)."""
    return max(cfg.data.seq_len - max_new_tokens, cfg.data.seq_len // 2)


def make_generate_fn(spec: FamilySpec, model: nn.Module, cfg: Config, tokenizer: TextTokenizer) -> GenerateFn:
    """A function (prompts, max_new_tokens) -> continuations using the family's sampler settings.

    A trailing space is stripped from each prompt: byte-level BPE attaches the space to the next
    word, so "... thanked " would otherwise ask the model for a word without its space. All prompts
    of a call go to the sampler together, so they draw from one seeded random stream (with a
    sampling temperature, two empty prompts give two different samples)."""
    sampler = spec.build_sampler(model, cfg)

    def generate(prompts: list[str], max_new_tokens: int) -> list[str]:
        limit = max_prompt_tokens(cfg, max_new_tokens)
        ids = [tokenizer.encode(p.rstrip(" "))[-limit:] if p.strip() else [] for p in prompts]
        return [tokenizer.decode(out) for out in sampler.generate(ids, max_new_tokens)]

    return generate
