"""Block-size randomisation (`train.block_size_probs`): parsing and checks, the per-micro-batch draw, and a
model trained with it sampling at each of its sizes (`sampler.block_size`) with cached = recomputed passes."""

from __future__ import annotations

import pytest
import torch

from cola_core.config import ConfigError, apply_overrides
from cola_core.config_checks import validate
from cola_core.families.cola.likelihood import cola_eval_loss
from cola_core.families.cola.model import eval_block_size
from cola_core.families.cola.objective import ColaObjective
from cola_core.families.cola.sampler import ColaSampler
from test_cola_helpers import tiny_cfg, tiny_model

PROBS = "1:0.25,2:0.25,4:0.5"


def test_the_probabilities_parse_and_bad_ones_are_one_line():
    cfg = apply_overrides(tiny_cfg(), {"train.block_size_probs": PROBS})
    assert cfg.train.block_size_choices() == [(1, 0.25), (2, 0.25), (4, 0.5)]
    assert validate(cfg) is cfg
    for bad, fragment in [
        ("4:0.5,8", "'8' is not SIZE:PROB"),
        ("4:0.5,8:0.6", "sum to 1"),
        ("4:1.0,4:0.0", "positive"),
        ("2:0.5,2:0.5", "listed twice"),
        ("3:0.5,4:0.5", r"train.block_size_probs size \(3\) must divide data.seq_len=16"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            validate(apply_overrides(tiny_cfg(), {"train.block_size_probs": bad}))
    with pytest.raises(ConfigError, match="sampler.block_size=3 must divide data.seq_len=16"):
        validate(apply_overrides(tiny_cfg(), {"sampler.block_size": 3}))


def test_each_micro_batch_draws_its_block_size_with_the_given_probabilities():
    objective = ColaObjective(apply_overrides(tiny_cfg(), {"train.block_size_probs": PROBS}))
    torch.manual_seed(0)
    draws = [objective.draw_block_size() for _ in range(4000)]
    for size, prob in [(1, 0.25), (2, 0.25), (4, 0.5)]:
        share = draws.count(size) / len(draws)
        assert abs(share - prob) < 4 * (prob * (1 - prob) / len(draws)) ** 0.5, (size, share)
    fixed = ColaObjective(tiny_cfg())
    state = torch.get_rng_state()
    assert {fixed.draw_block_size() for _ in range(10)} == {4}
    assert torch.equal(torch.get_rng_state(), state), "a fixed block size draws nothing (runs repeat as before)"
    assert ColaObjective(apply_overrides(tiny_cfg(), {"train.block_size_probs": PROBS}), 2).block_sizes == [2]


def test_the_prior_trains_at_the_drawn_size(monkeypatch):
    cfg = apply_overrides(tiny_cfg(), {"train.block_size_probs": PROBS})
    model = tiny_model(cfg).train()
    seen: list[int] = []
    import cola_core.families.cola.objective as objective_module

    real = objective_module.fm_branch
    monkeypatch.setattr(objective_module, "fm_branch", lambda *a, **k: seen.append(a[3]) or real(*a, **k))
    objective, tokens = ColaObjective(cfg), torch.randint(3, 40, (2, 16))
    torch.manual_seed(1)
    for _ in range(40):
        objective(model, tokens, 0)
    assert set(seen) == {1, 2, 4}


def test_a_randomised_model_samples_and_evaluates_at_each_of_its_sizes():
    cfg = apply_overrides(tiny_cfg(), {"train.block_size_probs": PROBS, "train.latent_evolution": "joint"})
    cfg.sampler.steps, cfg.sampler.temperature, cfg.sampler.top_k, cfg.model.eos_id = 3, 1.0, 10, 99
    model = tiny_model(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    objective, gen = ColaObjective(cfg), torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    for _ in range(12):  # a few steps, so no block size is left at the initialisation
        tokens = torch.randint(3, 40, (4, 16), generator=gen)
        opt.zero_grad()
        objective(model, tokens, 0).loss.backward()
        opt.step()
    model.eval()
    prompts, held_out = [[5, 6, 7], [3, 4, 5, 6, 7, 8, 9]], torch.randint(3, 40, (2, 16), generator=gen)
    elbos = {}
    for size in (1, 2, 4):
        at = apply_overrides(cfg, {"sampler.block_size": size})
        assert eval_block_size(model, at) == size
        cached, plain = ColaSampler(model, at, use_cache=True), ColaSampler(model, at, use_cache=False)
        assert cached.bs == size
        assert cached.generate(prompts, 8) == plain.generate(prompts, 8)
        torch.manual_seed(2)
        elbos[size] = cola_eval_loss(model, held_out, at, elbo_steps=2)["elbo_nats_per_token"]
    assert len(set(elbos.values())) == 3, "the ELBO is computed at the sampler's block size"
