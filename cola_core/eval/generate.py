"""Text-in, text-out generation over any family's sampler (what the task harness calls)."""

from __future__ import annotations

from typing import Callable

from torch import nn

from cola_core.config import Config
from cola_core.data.tokenizer import TextTokenizer
from cola_core.eval.harness import GenerateFn, RemaindersFn
from cola_core.registry import FamilySpec
from cola_core.sampling import document_starts


def max_prompt_tokens(cfg: Config, max_new_tokens: int) -> int:
    """Prompts are left-truncated so prompt + generation fits the trained length (at least half of it)."""
    return max(cfg.data.seq_len - max_new_tokens, cfg.data.seq_len // 2)


def encode_prompts(tokenizer: TextTokenizer, prompts: list[str], limit: int) -> list[list[int]]:
    """Prompt token ids as the sampler gets them: trailing spaces stripped, left-truncated to `limit`,
    a blank prompt empty."""
    return [tokenizer.encode(p.rstrip(" "))[-limit:] if p.strip() else [] for p in prompts]


def make_generate_fn(spec: FamilySpec, model: nn.Module, cfg: Config, tokenizer: TextTokenizer) -> GenerateFn:
    """A function (prompts, max_new_tokens) -> continuations using the family's sampler settings.

    A trailing space is stripped from each prompt: byte-level BPE attaches the space to the next
    word, so "... thanked " would otherwise ask the model for a word without its space. All prompts
    of a call go to the sampler together, so they draw from one seeded random stream (with a
    sampling temperature, two empty prompts give two different samples)."""
    sampler = spec.build_sampler(model, cfg)

    def generate(prompts: list[str], max_new_tokens: int) -> list[str]:
        ids = encode_prompts(tokenizer, prompts, max_prompt_tokens(cfg, max_new_tokens))
        return [tokenizer.decode(out) for out in sampler.generate(ids, max_new_tokens)]

    return generate


def make_truncation_counter(cfg: Config, tokenizer: TextTokenizer, max_new_tokens: int) -> Callable[[list[str]], int]:
    """prompts -> how many of them are longer than the prompt budget (`max_prompt_tokens`), i.e. lose
    their first tokens to left-truncation."""
    limit = max_prompt_tokens(cfg, max_new_tokens)

    def count(prompts: list[str]) -> int:
        return sum(len(tokenizer.encode(p.rstrip(" "))) > limit for p in prompts if p.strip())

    return count


def make_remainders_fn(cfg: Config, tokenizer: TextTokenizer, max_new_tokens: int) -> RemaindersFn | None:
    """prompts -> prompt length in tokens modulo the tokens per model position p (Cola: `model.patch_size`),
    counted on the ids the sampler gets (after truncation; a blank prompt is the one EOS that starts a
    document); None when p = 1."""
    p = cfg.model.tokens_per_position()
    if p <= 1:
        return None
    limit = max_prompt_tokens(cfg, max_new_tokens)

    def remainders(prompts: list[str]) -> list[int]:
        ids = document_starts(encode_prompts(tokenizer, prompts, limit), cfg.model.eos_id)
        return [len(x) % p for x in ids]

    return remainders
