"""KV-cache sampler for the AR family (greedy / temperature / top-k / top-p)."""

from __future__ import annotations

import torch

from cola_core.config import SamplerConfig
from cola_core.families.ar.model import ARModel
from cola_core.sampling import sample_logits


class ARSampler:
    """Generates one token at a time; with `use_cache=False` it recomputes the whole prefix (for tests)."""

    def __init__(self, model: ARModel, scfg: SamplerConfig, eos_id: int, use_cache: bool = True):
        self.model, self.scfg, self.eos_id, self.use_cache = model, scfg, eos_id, use_cache

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        """Each prompt is decoded on its own (no padding); stops at EOS or the token budget."""
        gen = torch.Generator().manual_seed(self.scfg.seed)
        return [self._one(p, max_new_tokens, gen) for p in prompts]

    def _one(self, prompt: list[int], max_new_tokens: int, gen: torch.Generator) -> list[int]:
        s = self.scfg
        ids = torch.tensor([prompt or [self.eos_id]], dtype=torch.long)  # (1, T); empty prompt starts after EOS
        caches = self.model.new_cache() if self.use_cache else None
        logits = self.model(ids, caches, update_cache=True)[:, -1]  # (1, V)
        out: list[int] = []
        for _ in range(max_new_tokens):
            nxt = sample_logits(logits, s.temperature, s.top_k, s.top_p, gen)  # (1,)
            token = int(nxt.item())
            if token == self.eos_id:
                break
            out.append(token)
            if self.use_cache:
                logits = self.model(nxt[:, None], caches, update_cache=True)[:, -1]
            else:
                ids = torch.cat([ids, nxt[:, None]], dim=1)
                logits = self.model(ids)[:, -1]
        return out
