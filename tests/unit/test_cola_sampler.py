"""Sampler: KV cache == recompute, cfg = 1 == conditional only, clean-condition repaint, valid output."""

from __future__ import annotations

import pytest
import torch

from cola_core.data.tokenizer import train_bpe
from cola_core.families.cola.sampler import ColaSampler
from test_cola_helpers import tiny_cfg, tiny_model

PROMPTS = [[], [5, 6, 7], [5, 6, 7, 8, 9, 10, 11, 12], [3, 4, 5, 6, 7, 8, 9]]


def _setup(patch_size: int = 1, cfg_w: float = 4.0, **sampler):
    cfg = tiny_cfg(patch_size=patch_size)
    cfg.sampler.cfg, cfg.sampler.steps, cfg.model.eos_id = cfg_w, 4, 99  # eos outside the vocab: fixed lengths
    for key, value in sampler.items():
        setattr(cfg.sampler, key, value)
    return cfg, tiny_model(cfg)


def _record_dit_calls(model) -> list[dict]:
    calls: list[dict] = []

    def hook(module, args, kwargs, output):
        names = ["z", "t", "positions", "mask", "caches", "update_cache", "use_cache"]
        call = dict(zip(names, args))
        call.update(kwargs)
        calls.append({"z": call["z"].clone(), "t": call["t"].clone(), "positions": call["positions"].clone(),
                      "update_cache": call.get("update_cache", False), "use_cache": call.get("use_cache", True),
                      "cached": call.get("caches") is not None})

    model.dit.register_forward_hook(hook, with_kwargs=True)
    return calls


@pytest.mark.parametrize("patch_size,solver", [(1, "euler"), (2, "heun")])
def test_kv_cache_generation_equals_recompute(patch_size: int, solver: str) -> None:
    cfg, model = _setup(patch_size, solver=solver, temperature=1.0, top_k=10)
    cached = ColaSampler(model, cfg, use_cache=True)
    plain = ColaSampler(model, cfg, use_cache=False)
    a, b = cached.generate(PROMPTS, 10), plain.generate(PROMPTS, 10)
    assert a == b
    assert all(len(x) == 10 for x in a)
    for za, zb in zip(cached.last_latents, plain.last_latents):
        assert torch.allclose(za, zb, atol=1e-4)


def test_cfg_one_is_the_conditional_sampler() -> None:
    cfg, model = _setup(cfg_w=1.0)
    calls = _record_dit_calls(model)
    sampler = ColaSampler(model, cfg)
    out = sampler.generate(PROMPTS, 10)
    assert calls and not any(not c["use_cache"] for c in calls), "no unconditional pass at cfg = 1"

    class BothPasses(ColaSampler):
        """Always runs both passes and combines them with w = 1."""

        def _velocity(self, state, z, t, pins):
            t_tok = torch.full((1, self.bs), float(t)).masked_fill(pins[None], 0.0)
            positions = torch.arange(state.n, state.n + self.bs)
            v_c = self.model.dit(z, t_tok, positions, None, state.dit_caches)
            v_u = self.model.dit(z, t_tok, positions, None, state.dit_caches, use_cache=False)
            return v_u + 1.0 * (v_c - v_u)

    both = BothPasses(model, cfg)
    assert both.generate(PROMPTS, 10) == out
    for za, zb in zip(sampler.last_latents, both.last_latents):
        assert torch.allclose(za, zb, atol=1e-5)
    cfg.sampler.cfg = 4.0
    calls.clear()
    ColaSampler(model, cfg).generate(PROMPTS[2:3], 10)
    assert any(not c["use_cache"] for c in calls), "cfg != 1 runs the unconditional pass"


def test_unconditional_first_block_without_prompt() -> None:
    cfg, model = _setup(cfg_w=4.0)
    calls = _record_dit_calls(model)
    ColaSampler(model, cfg).generate([[]], 4)  # exactly one block, no context: w is effectively 1
    assert calls and all(c["use_cache"] for c in calls)


def test_repaint_keeps_prompt_latents_clean_at_every_step() -> None:
    cfg, model = _setup()
    prompt = [5, 6, 7, 8, 9, 10]  # block 0 complete, block 1 has 2 prompt latents
    calls = _record_dit_calls(model)
    sampler = ColaSampler(model, cfg)
    sampler.generate([prompt], 6)
    clean = model.normalize(model.vae.encode(torch.tensor([prompt])).mode())  # (1, 6, d)
    steps = [c for c in calls if not c["update_cache"] and c["positions"][0] == 4]
    assert len(steps) == 2 * cfg.sampler.steps  # conditional + unconditional per step
    for c in steps:
        assert torch.equal(c["z"][:, :2], clean[:, 4:6]), "pinned latents stay clean"
        assert torch.all(c["t"][:, :2] == 0) and torch.all(c["t"][:, 2:] > 0)
    assert not torch.equal(steps[0]["z"][:, 2:], steps[-1]["z"][:, 2:]), "the free latents move"
    assert torch.allclose(sampler.last_latents[0][:, :6], clean, atol=1e-6)
    prefix = [c for c in calls if c["update_cache"] and c["positions"][0] == 0]
    assert len(prefix) == 1 and torch.all(prefix[0]["t"] == 0) and prefix[0]["z"].shape[1] == 4


def test_generation_gives_valid_ids_and_text_and_stops_at_eos() -> None:
    texts = ["the cat sat on the mat.", "a dog ran in the park.", "the bird sang a song."] * 20
    tok = train_bpe(texts, vocab_size=300, min_frequency=1)
    cfg = tiny_cfg(vocab_size=tok.vocab_size, eos_id=tok.eos_id, pad_id=tok.pad_id, mask_id=tok.mask_id)
    cfg.sampler.steps, cfg.sampler.temperature, cfg.sampler.top_p = 3, 1.0, 0.9
    model = tiny_model(cfg)
    outs = ColaSampler(model, cfg).generate([tok.encode("the cat"), []], 12)
    for ids in outs:
        assert 0 < len(ids) <= 12 and all(0 <= i < tok.vocab_size for i in ids)
        assert tok.eos_id not in ids
        assert isinstance(tok.decode(ids), str)
    cfg.sampler.temperature = 0.0  # make EOS the decoder's top token: generation stops at once
    model.vae.decoder.head.register_forward_hook(lambda m, a, o: o.index_fill(-1, torch.tensor([tok.eos_id]), 1e4))
    assert ColaSampler(model, cfg).generate([[5, 6]], 12) == [[]]
