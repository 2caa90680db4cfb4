"""Sampler: KV cache == recompute, batched guidance, passes per block, clean-condition repaint, valid output."""

from __future__ import annotations

import pytest
import torch

from cola_core.data.tokenizer import train_bpe
from cola_core.families.cola.sampler import ColaSampler
from test_cola_helpers import tiny_cfg, tiny_model

PROMPTS = [[1], [5, 6, 7], [5, 6, 7, 8, 9, 10, 11, 12], [3, 4, 5, 6, 7, 8, 9]]
EQUAL = [[5, 6, 7, 8, 9], [9, 8, 7, 6, 5], [3, 3, 3, 3, 3]]  # one batch: a complete block + 1 pinned latent
# (an empty prompt starts after EOS, which these tests keep outside the vocabulary: see test_diagnostics.py)


def _setup(patch_size: int = 1, cfg_w: float = 4.0, **sampler):
    cfg = tiny_cfg(patch_size=patch_size)
    cfg.sampler.cfg, cfg.sampler.steps, cfg.model.eos_id = cfg_w, 4, 99  # eos outside the vocab: fixed lengths
    for key, value in sampler.items():
        setattr(cfg.sampler, key, value)
    return cfg, tiny_model(cfg)


def _record_calls(module) -> list[dict]:
    """Every forward of `module` (the DiT or the VAE decoder): its inputs, as passed."""
    calls: list[dict] = []

    def hook(module, args, kwargs, output):
        names = ["z", "t", "positions", "mask", "caches", "commit"]
        call = dict(zip(names, args))
        call.update(kwargs)
        calls.append(
            {
                "z": call["z"].clone(),
                "t": call.get("t"),
                "positions": call.get("positions"),
                "mask": call.get("mask"),
                "commit": call.get("commit", 0),
            }
        )

    module.register_forward_hook(hook, with_kwargs=True)
    return calls


@pytest.mark.parametrize("patch_size,solver,cfg_w", [(1, "euler", 4.0), (2, "heun", 4.0), (1, "euler", 1.0)])
def test_kv_cache_generation_equals_recompute(patch_size: int, solver: str, cfg_w: float) -> None:
    """The cached sampler (fused cache writes, batched guidance) equals recomputing every pass."""
    cfg, model = _setup(patch_size, cfg_w=cfg_w, solver=solver, temperature=1.0, top_k=10)
    cached = ColaSampler(model, cfg, use_cache=True)
    plain = ColaSampler(model, cfg, use_cache=False)
    prompts = PROMPTS + EQUAL
    a, b = cached.generate(prompts, 10), plain.generate(prompts, 10)
    assert a == b
    assert all(len(x) == 10 for x in a)
    assert len(cached.last_latents) == len(prompts)
    for za, zb in zip(cached.last_latents, plain.last_latents):
        assert torch.allclose(za, zb, atol=1e-4)


def test_guidance_rides_in_the_conditional_batch() -> None:
    cfg, model = _setup(cfg_w=1.0)
    calls = _record_calls(model.dit)
    ColaSampler(model, cfg).generate(EQUAL, 10)
    assert calls and all(c["z"].shape[0] == len(EQUAL) for c in calls), "no unconditional rows at cfg = 1"
    cfg.sampler.cfg = 4.0
    calls.clear()
    ColaSampler(model, cfg).generate(EQUAL, 10)
    assert calls and all(c["z"].shape[0] == 2 * len(EQUAL) for c in calls), "both branches in every pass"
    masks = [c["mask"] for c in calls if c["mask"] is not None and c["mask"].dim() == 4]
    assert masks, "the unconditional rows get their own mask"
    cond, uncond = masks[-1][: len(EQUAL)], masks[-1][len(EQUAL) :]
    assert cond[:, 0, -1].all() and (uncond[:, 0, -1].sum(dim=-1) == cfg.model.block_size).all()  # own block only


def test_first_block_without_context_runs_one_branch() -> None:
    cfg, model = _setup(cfg_w=4.0)
    calls = _record_calls(model.dit)
    ColaSampler(model, cfg).generate([[1]], 3)  # one pinned latent, one block, no context: w is effectively 1
    assert len(calls) == cfg.sampler.steps
    assert all(c["z"].shape[0] == 1 and c["mask"] is None and c["commit"] == 0 for c in calls)


def test_network_passes_per_block() -> None:
    """`steps` DiT passes and one decoder pass per block; a finished block is committed by the next
    block's first pass, never by a pass of its own."""
    cfg, model = _setup(cfg_w=4.0)
    dit_calls, dec_calls = _record_calls(model.dit), _record_calls(model.vae.decoder)
    bs, steps = cfg.model.block_size, cfg.sampler.steps
    ColaSampler(model, cfg).generate(EQUAL, 3 * bs - 1)  # prompt fills 1 latent of block 1: blocks 1, 2, 3
    blocks = 3
    assert len(dit_calls) == 1 + blocks * steps  # + the prompt-prefix pass
    assert len(dec_calls) == 1 + blocks
    fused = [c for c in dit_calls if c["commit"] == bs and c["z"].shape[1] == 2 * bs]
    assert len(fused) == blocks - 1
    assert all(torch.all(c["t"][:, :bs] == 0) and torch.all(c["t"][:, bs + 1 :] == 1.0) for c in fused)


def test_repaint_keeps_prompt_latents_clean_at_every_step() -> None:
    cfg, model = _setup()
    prompt = [5, 6, 7, 8, 9, 10]  # block 0 complete, block 1 has 2 prompt latents
    calls = _record_calls(model.dit)
    sampler = ColaSampler(model, cfg)
    sampler.generate([prompt], 6)
    clean = model.normalize(model.vae.encode(torch.tensor([prompt])).mode())  # (1, 6, d)
    steps = [c for c in calls if c["commit"] == 0 and c["positions"][0] == 4]
    assert len(steps) == cfg.sampler.steps  # conditional + unconditional batched in each step
    for c in steps:
        assert c["z"].shape[0] == 2
        assert torch.equal(c["z"][:, :2], clean[:, 4:6].expand(2, -1, -1)), "pinned latents stay clean"
        assert torch.all(c["t"][:, :2] == 0) and torch.all(c["t"][:, 2:] > 0)
    assert not torch.equal(steps[0]["z"][:, 2:], steps[-1]["z"][:, 2:]), "the free latents move"
    assert torch.allclose(sampler.last_latents[0][:, :6], clean, atol=1e-6)
    prefix = [c for c in calls if c["commit"] and c["positions"][0] == 0]
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
