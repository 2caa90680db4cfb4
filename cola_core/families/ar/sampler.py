"""KV-cache sampler for the AR family (greedy / temperature / top-k / top-p).

Prompts of equal length are decoded together as one (B, T) batch (`sampler.batch_size` at most):
equal lengths need no padding, so a batched row computes exactly what it would alone (up to
floating-point reassociation in batched matmuls).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import torch

from cola_core.config import SamplerConfig
from cola_core.families.ar.model import ARModel
from cola_core.nn.attention import KVCache
from cola_core.sampling import Steps, cut_rows, document_starts, drain, length_groups, new_chunks, sample_logits


class ARSampler:
    """Generates one token per forward for a whole batch; with `use_cache=False` it recomputes the
    whole prefix (for tests)."""

    def __init__(self, model: ARModel, scfg: SamplerConfig, eos_id: int, use_cache: bool = True):
        self.model, self.scfg, self.eos_id, self.use_cache = model, scfg, eos_id, use_cache

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        """New ids per prompt (in the order of `prompts`), each cut before its first EOS or at the
        token budget. Equal-length prompts share a batch; one seeded random stream serves the call."""
        device = next(self.model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.scfg.seed)
        outs: list[list[int]] = [[] for _ in prompts]
        prompts = document_starts(prompts, self.eos_id)
        for group in length_groups(prompts, self.scfg.batch_size):
            for i, out in zip(group, drain(self._steps([prompts[i] for i in group], max_new_tokens, gen))):
                outs[i] = out
        return outs

    @torch.no_grad()
    def stream(self, prompt: list[int], max_new_tokens: int) -> Iterator[list[int]]:
        """The new ids of one prompt as they are sampled, one token per chunk; they concatenate to
        `generate([prompt], max_new_tokens)[0]`."""
        device = next(self.model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.scfg.seed)
        yield from new_chunks(self._steps(document_starts([prompt], self.eos_id), max_new_tokens, gen))

    def _steps(self, prompts: list[list[int]], max_new_tokens: int, gen: torch.Generator) -> Steps:
        """Decode prompts of one common length together, a snapshot after every token; rows that hit
        EOS keep being computed (their later tokens are dropped) until every row is done or the
        budget is spent."""
        if max_new_tokens <= 0:
            return [[] for _ in prompts]
        s = self.scfg
        device = next(self.model.parameters()).device
        ids = torch.tensor(prompts, dtype=torch.long, device=device)  # (B, T)
        B = ids.shape[0]
        tokens = torch.empty(B, max_new_tokens, dtype=torch.long, device=device)  # (B, N)
        done = torch.zeros(B, dtype=torch.bool, device=device)  # (B,)
        caches = self.model.new_cache() if self.use_cache else None
        logits = self.model(ids, caches, update_cache=True, logits_for=slice(-1, None))[:, -1]  # (B, V)
        n = 0
        while n < max_new_tokens:
            nxt = sample_logits(logits, s.temperature, s.top_k, s.top_p, gen)  # (B,)
            tokens[:, n] = nxt
            n += 1
            yield partial(cut_rows, tokens[:, :n], self.eos_id)
            done |= nxt == self.eos_id
            if n == max_new_tokens or bool(done.all()):  # one host sync per step, not per row
                break
            logits, ids = self._next_logits(ids, nxt, caches)
        return cut_rows(tokens[:, :n], self.eos_id)

    def _next_logits(
        self, ids: torch.Tensor, nxt: torch.Tensor, caches: list[KVCache] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, V) after appending `nxt` (B,): one cached (B, 1) forward, or the whole prefix
        again without a cache. Also returns the ids so far (only grown without a cache)."""
        if caches is not None:
            return self.model(nxt[:, None], caches, update_cache=True)[:, -1], ids  # (B, V)
        ids = torch.cat([ids, nxt[:, None]], dim=1)  # (B, T + 1)
        return self.model(ids, logits_for=slice(-1, None))[:, -1], ids  # (B, V)
