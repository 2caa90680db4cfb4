"""Sampling throughput of every family (the `sample` part of `jobs.bench`)."""

from __future__ import annotations

import time
from typing import Any

import torch

from cola_core.presets import resolve_config
from cola_core.registry import get_family
from cola_core.utils.seeding import seed_everything

SAMPLERS = {
    "ar": [{}],
    "llada": [{"sampler.steps": 32, "sampler.cfg": 0.0}],
    "cola": [{"sampler.steps": 16, "sampler.cfg": 4.0}, {"sampler.steps": 8, "sampler.cfg": 0.0}],
}


def bench_sampling(preset: str = "xs", new_tokens: int = 64, prompts: int = 4, vocab_size: int = 4096) -> dict[str, Any]:
    """Generated tokens/s of every family's sampler at `preset` (random weights: speed does not depend on them)."""
    out: dict[str, Any] = {"preset": preset, "new_tokens": new_tokens, "prompts": prompts, "threads": torch.get_num_threads()}
    gen = torch.Generator().manual_seed(0)
    prompt_ids = [torch.randint(3, vocab_size, (24,), generator=gen).tolist() for _ in range(prompts)]
    for family, variants in SAMPLERS.items():
        for over in variants:
            cfg = resolve_config(family, preset, {"model.vocab_size": vocab_size, "train.stage": 2, "model.eos_id": 0, **over})
            seed_everything(0)
            spec = get_family(family)
            model = spec.build_model(cfg).eval()
            sampler = spec.build_sampler(model, cfg)
            start = time.perf_counter()
            produced = sum(len(ids) for ids in sampler.generate(prompt_ids, new_tokens))
            seconds = time.perf_counter() - start
            key = family + "".join(f"_{k.split('.')[1]}{v:g}" for k, v in over.items())
            out[key] = {"tokens_per_second": produced / seconds, "seconds": seconds, "tokens": produced}
    return out
