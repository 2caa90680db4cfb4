"""A fourth family kept outside the package: a bigram language model (one table of next-token logits).

It exists to show what a family is: everything the platform needs comes from this one file through
`FamilySpec`, and `COLA_FAMILY_MODULES=tests/families/bigram.py` makes every job (and every Ray worker
they start) know it. `tests/platform/test_fourth_family.py` runs it through the jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.config import Config, ModelConfig, SamplerConfig
from cola_core.registry import FamilySpec, FlopsPerToken, LossOutput, ParamCounts, register_family
from cola_core.sampling import Steps, cut_rows, document_starts, drain, new_chunks, sample_logits


class BigramModel(nn.Module):
    """logits(next | current) = table[current]."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)
        nn.init.zeros_(self.table.weight)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table(tokens)  # (B, L) -> (B, L, V)


def next_token_loss(model: BigramModel, tokens: torch.Tensor, step: int = 0) -> LossOutput:
    logits = model(tokens[:, :-1])  # (B, L-1, V)
    loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
    return LossOutput(loss=loss, metrics={"ce": loss.item()})


class BigramSampler:
    """One token per step for a batch of prompts (only each prompt's last token matters)."""

    def __init__(self, model: BigramModel, scfg: SamplerConfig, eos_id: int):
        self.model, self.scfg, self.eos_id = model, scfg, eos_id

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        gen = torch.Generator().manual_seed(self.scfg.seed)
        return drain(self._steps(document_starts(prompts, self.eos_id), max_new_tokens, gen))

    @torch.no_grad()
    def stream(self, prompt: list[int], max_new_tokens: int) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed(self.scfg.seed)
        yield from new_chunks(self._steps(document_starts([prompt], self.eos_id), max_new_tokens, gen))

    def _steps(self, prompts: list[list[int]], max_new_tokens: int, gen: torch.Generator) -> Steps:
        last = torch.tensor([p[-1] for p in prompts], dtype=torch.long)  # (B,)
        tokens = torch.empty(len(prompts), max(0, max_new_tokens), dtype=torch.long)  # (B, N)
        for n in range(max_new_tokens):
            s = self.scfg
            last = sample_logits(self.model(last), s.temperature, s.top_k, s.top_p, gen)  # (B,)
            tokens[:, n] = last
            yield partial(cut_rows, tokens[:, : n + 1], self.eos_id)
        return cut_rows(tokens, self.eos_id)


def param_counts(m: ModelConfig) -> ParamCounts:
    return ParamCounts(total=m.vocab_size**2, non_embedding=0)


def flops_per_token(cfg: Config) -> FlopsPerToken:
    forward = 2.0 * cfg.model.vocab_size  # the softmax-CE over V logits; the lookup itself is free
    return FlopsPerToken(forward=forward, train=3.0 * forward)


SPEC = register_family(
    FamilySpec(
        name="bigram",
        build_model=lambda cfg: BigramModel(cfg.model.vocab_size),
        build_objective=lambda cfg: next_token_loss,
        build_sampler=lambda model, cfg: BigramSampler(model, cfg.sampler, cfg.model.eos_id),
        count_params=param_counts,
        flops_per_token=flops_per_token,
        preset_shape=lambda preset: {},
    )
)
