"""Boundary-aware patching (`model.boundary = aware`): the random phase shift of training, the prompt
alignment of the sampler, and a VAE trained with it reconstructing prompts of every remainder."""

from __future__ import annotations

import pytest
import torch

from cola_core.config import ConfigError, apply_overrides
from cola_core.config_checks import validate
from cola_core.families.cola.boundary import align_prompt, random_phase
from cola_core.families.cola.objective import ColaObjective
from cola_core.families.cola.sampler import ColaSampler
from cola_core.sampling import drain
from test_cola_helpers import tiny_cfg, tiny_model, train_vae

PAD = 1


def test_random_phase_shifts_each_row_right_by_0_to_p_minus_1_pads():
    tokens = torch.arange(3, 19).repeat(400, 1)  # (400, 16)
    torch.manual_seed(0)
    shifted, keep = random_phase(tokens, 4, PAD)
    shifts = (~keep).sum(1)
    assert set(shifts.tolist()) == {0, 1, 2, 3}
    for row, k in zip(range(len(tokens)), shifts.tolist()):
        assert shifted[row, :k].eq(PAD).all() and not keep[row, k:].logical_not().any()
        assert torch.equal(shifted[row, k:], tokens[row, : 16 - k])


def test_align_prompt_ends_every_remainder_on_a_patch_boundary():
    for p in (2, 4):
        for n in range(1, 10):
            prompt = list(range(5, 5 + n))
            aligned = align_prompt(prompt, p, PAD)
            assert len(aligned) % p == 0 and aligned[len(aligned) - n :] == prompt
            assert aligned[: len(aligned) - n] == [PAD] * (-n % p)


def test_boundary_is_checked_and_only_aware_training_shifts():
    with pytest.raises(ConfigError, match="model.boundary='left' must be one of official, aware"):
        validate(apply_overrides(tiny_cfg(), {"model.boundary": "left"}))
    official, aware = tiny_cfg(stage=1, patch_size=4), tiny_cfg(stage=1, patch_size=4, boundary="aware")
    model, tokens = tiny_model(official).train(), torch.randint(3, 40, (4, 16))
    losses = {}
    for name, cfg, training in [("official", official, True), ("aware", aware, True), ("aware-eval", aware, False)]:
        torch.manual_seed(0)
        losses[name] = float(ColaObjective(cfg)(model.train(training), tokens).loss.detach())
    assert losses["aware"] != losses["official"], "aware training sees shifted sequences"
    torch.manual_seed(0)
    assert losses["aware-eval"] == float(ColaObjective(official)(model.eval(), tokens).loss.detach()), (
        "unshifted in eval"
    )


def _trained_vae(boundary: str, steps: int = 250):
    """A Stage-1 VAE with p = 4 trained on tokens 3..10 until it reconstructs (every training token by step 200)."""
    cfg = tiny_cfg(stage=1, patch_size=4, boundary=boundary, latent_dim=16)
    cfg.objective.lambda_mask = 0.0  # the mask loss slows reconstruction down and is beside the point here
    return train_vae(cfg, steps, 32, 11, torch.Generator().manual_seed(0))


@torch.no_grad()
def _recovered(model, prompts: list[list[int]]) -> list[bool]:
    """Whether encoding each left-aligned prompt and decoding its mode gives the prompt's tokens back."""
    out = []
    for prompt in prompts:
        aligned = torch.tensor([align_prompt(prompt, 4, PAD)])  # (1, whole patches)
        decoded = model.vae.decode(model.vae.encode(aligned).mode()).argmax(-1)[0].tolist()
        out.append(decoded[len(decoded) - len(prompt) :] == prompt)
    return out


def test_an_aware_vae_recovers_prompts_of_every_remainder_through_the_decoder():
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(3, 11, (n,), generator=gen).tolist() for n in range(4, 12) for _ in range(4)]
    assert all(_recovered(_trained_vae("aware"), prompts))
    # the same VAE trained without the phase shift has never seen PAD in a patch: it loses some prompts
    assert not all(_recovered(_trained_vae("official"), prompts))


def test_an_aware_sampler_continues_prompts_of_every_remainder_with_cached_equal_to_recomputed():
    cfg = tiny_cfg(patch_size=2, boundary="aware", block_size=2)
    cfg.sampler.steps, cfg.model.eos_id = 3, 99
    model = tiny_model(cfg)
    prompts = [[5, 6, 7], [3, 4, 5, 6], [8], [9, 10, 11, 12, 13]]
    cached = ColaSampler(model, cfg).generate(prompts, 6)
    assert cached == ColaSampler(model, cfg, use_cache=False).generate(prompts, 6)
    assert all(len(out) == 6 for out in cached)
    streamed = [sum(ColaSampler(model, cfg).stream(p, 6), []) for p in prompts]
    assert streamed == cached


def test_partial_patch_candidates_keep_the_copy_whose_decoder_fits_the_prompt_best():
    cfg = tiny_cfg(patch_size=2, block_size=2)
    cfg.sampler.steps, cfg.model.eos_id = 3, 99
    model = tiny_model(cfg)
    single = ColaSampler(model, cfg)
    cfg4 = apply_overrides(cfg, {"sampler.partial_patch_candidates": 4})
    prompts = [[5, 6, 7], [3, 4, 5, 6], [8, 9, 10, 11, 12]]
    best = ColaSampler(model, cfg4).generate(prompts, 6)
    assert best == ColaSampler(model, cfg4, use_cache=False).generate(prompts, 6)
    assert best[1] == single.generate([prompts[1]], 6)[0], "a prompt on a patch boundary is sampled once"
    for prompt, out in zip(prompts[::2], best[::2]):  # odd lengths: 4 copies, as 4 equal prompts get them
        copies = [list(prompt)] * 4
        sampler = ColaSampler(model, cfg4)
        tokens, _, fit = drain(sampler._steps(copies, 6, sampler._generators(copies)))
        assert out == tokens[max(range(4), key=lambda k: (fit[k], -k))]
        assert all(f < 0 for f in fit) and len(set(fit)) > 1, "the copies' partial patches differ"
    assert [sum(ColaSampler(model, cfg4).stream(p, 6), []) for p in prompts] == best
    with pytest.raises(ConfigError, match="partial_patch_candidates"):
        validate(apply_overrides(cfg, {"sampler.partial_patch_candidates": 0}))
