"""Family knowledge behind FamilySpec hooks: config check, preset shape, stages, Stage-1 start, timed networks."""

from dataclasses import replace

import pytest

from cola_core.config import Config, ConfigError, apply_overrides, family_keys
from cola_core.config_checks import validate
from cola_core.presets import preset_overrides, resolve_config
from cola_core.registry import _REGISTRY, get_family, register_family
from sweeps.scaling_plan import ScalingStudy, plan_run
from sweeps.study import SweepStudy

FAMILIES = ("ar", "llada", "cola")

# Regression pin, not a specification: the overrides each family's `preset_shape` gave at tiny/xs/s
# when the shapes moved out of `preset_overrides` (computed from the code before that move).
_COMMON = {
    "tiny": {"optim.lr": 0.002, "train.micro_batch_size": 8, "data.seq_len": 64},
    "xs": {"optim.lr": 0.002, "train.micro_batch_size": 16, "data.seq_len": 128},
    "s": {"optim.lr": 0.001, "train.micro_batch_size": 8, "data.seq_len": 256},
}
_MATCHED = {
    "tiny": {"model.dim": 64, "model.n_layers": 2, "model.n_heads": 4, "model.ffn_hidden": 395},
    "xs": {"model.dim": 128, "model.n_layers": 2, "model.n_heads": 4, "model.ffn_hidden": 737},
    "s": {"model.dim": 256, "model.n_layers": 4, "model.n_heads": 4, "model.ffn_hidden": 1309},
}
_COLA = {
    "tiny": {
        "model.dim": 64,
        "model.n_layers": 2,
        "model.n_heads": 4,
        "model.ffn_hidden": 0,
        "model.vae_dim": 64,
        "model.vae_layers": 1,
        "model.vae_heads": 4,
        "model.vae_ffn_hidden": 0,
        "model.block_size": 4,
    },
    "xs": {
        "model.dim": 128,
        "model.n_layers": 2,
        "model.n_heads": 4,
        "model.ffn_hidden": 0,
        "model.vae_dim": 128,
        "model.vae_layers": 1,
        "model.vae_heads": 4,
        "model.vae_ffn_hidden": 0,
        "model.block_size": 8,
    },
    "s": {
        "model.dim": 256,
        "model.n_layers": 4,
        "model.n_heads": 4,
        "model.ffn_hidden": 0,
        "model.vae_dim": 192,
        "model.vae_layers": 2,
        "model.vae_heads": 4,
        "model.vae_ffn_hidden": 0,
        "model.block_size": 8,
    },
}
_PINNED = {(f, p): {**_COMMON[p], **(_COLA if f == "cola" else _MATCHED)[p]} for f in FAMILIES for p in _COMMON}


@pytest.fixture
def bare_family():
    """A throwaway family with AR's functions and no preset shape, unregistered afterwards."""
    spec = register_family(replace(get_family("ar"), name="bare", preset_shape=None))
    yield spec
    _REGISTRY.pop(spec.name)


def _config(family: str, **overrides) -> Config:
    cfg = Config.for_family(family)
    return apply_overrides(cfg, overrides)


@pytest.mark.parametrize("family", FAMILIES)
def test_check_config_refuses_partial_blocks_for_cola_only(family):
    if "model.block_size" not in family_keys(family):  # a token model has no blocks: not its setting
        with pytest.raises(ConfigError, match=f"'model.block_size' is not a setting of family '{family}'"):
            _config(family, **{"model.block_size": 5, "data.seq_len": 256})
        return
    partial = _config(family, **{"model.block_size": 5, "data.seq_len": 256})
    patched = _config(family, **{"model.block_size": 4, "model.patch_size": 3, "data.seq_len": 64})
    with pytest.raises(ConfigError, match=r"model\.block_size=5 must divide data\.seq_len=256"):
        validate(partial)
    with pytest.raises(ConfigError, match=r"model\.block_size=4 x model\.patch_size=3 must divide data\.seq_len=64"):
        validate(patched)
    assert (
        validate(_config(family, **{"model.block_size": 4, "model.patch_size": 2, "data.seq_len": 64})).model.patch_size
        == 2
    )


def test_validate_refuses_an_unknown_family():
    with pytest.raises(ConfigError, match="unknown family 'gpt'"):
        validate(_config("gpt"))


@pytest.mark.parametrize("family,preset", sorted(_PINNED))
def test_preset_shape_gives_the_pinned_overrides(family, preset):
    assert preset_overrides(preset, family) == _PINNED[family, preset]
    model = resolve_config(family, preset).model
    assert {k: getattr(model, k.split(".")[1]) for k in _PINNED[family, preset] if k.startswith("model.")} == {
        k: v for k, v in _PINNED[family, preset].items() if k.startswith("model.")
    }


def test_family_without_preset_shape_is_refused_clearly(bare_family):
    with pytest.raises(ConfigError, match=r"family 'bare' has no preset shape \(FamilySpec\.preset_shape\)"):
        resolve_config("bare", "tiny")
    assert validate(_config("bare")).run.family == "bare", "a config without a preset still validates"


@pytest.mark.parametrize("family", FAMILIES)
def test_needs_stage1_only_for_cola_stage2_from_a_vae(family):
    from cola_platform.tune.trial import needs_stage1

    study = SweepStudy(name="t", family=family, data="d", steps=10, stage1_steps=5)
    joint = _config(family, **{"train.stage": 2})
    assert needs_stage1(joint, study) is (family == "cola")
    if "train.latent_evolution" in family_keys(family):
        assert not needs_stage1(_config(family, **{"train.stage": 2, "train.latent_evolution": "scratch"}), study)
    assert not needs_stage1(_config(family, **{"train.stage": 1}), study)
    assert not needs_stage1(joint, replace(study, stage1_steps=0)), (
        "no Stage-1 steps in the study: nothing to start from"
    )


def test_a_shared_stage1_run_takes_only_the_familys_stage1_keys_from_the_trial():
    from cola_platform.tune.trial import TrialContext, stage1_config

    base = _config("cola", **{"train.stage": 2})
    study = SweepStudy(name="t", family="cola", data="d", steps=10, stage1_steps=5)
    ctx = TrialContext(study=study, base=base.to_dict(), out="o")
    keys = get_family("cola").stage1_keys
    assert {"model.latent_dim", "model.vae_logsnr", "objective.beta_kl"} <= set(keys) <= set(base.flat())
    trial = apply_overrides(
        Config.from_dict(base.to_dict()), {"model.latent_dim": 4, "optim.lr": 0.5, "model.block_size": 2}
    )
    s1 = stage1_config(ctx, trial)
    assert (s1.model.latent_dim, s1.train.stage, s1.train.steps) == (4, 1, 5)
    assert (s1.optim.lr, s1.model.block_size) == (base.optim.lr, base.model.block_size)
    assert s1.run.name == stage1_config(ctx, apply_overrides(trial, {"optim.lr": 0.1})).run.name, (
        "trials that differ outside the Stage-1 keys share one Stage-1 run"
    )
    assert get_family("ar").stage1_keys == ()


@pytest.mark.parametrize("family", FAMILIES)
def test_scaling_plan_splits_the_budget_over_the_familys_stages(family):
    study = ScalingStudy(name="t", families=[family], budgets=[1e13], presets=["tiny"], data="d")
    run = plan_run(study, family, "tiny", 1e13, {"data.seq_len": 64, "model.vocab_size": 512})
    assert not run.skipped
    if family == "cola":
        assert get_family(family).stages == (1, 2)
        assert [s.overrides["train.stage"] for s in run.stages] == [1, 2]
        assert run.stages[0].flops == pytest.approx(0.3 * 1e13, rel=0.05)
        assert run.stages[1].flops == pytest.approx(0.7 * 1e13, rel=0.05)
    else:
        assert get_family(family).stages == (0,)
        assert [set(s.overrides) for s in run.stages] == [{"train.steps"}], "one run; train.stage left as configured"
        assert run.stages[0].flops == pytest.approx(1e13, rel=0.02)


@pytest.mark.parametrize("family", FAMILIES)
def test_sampling_bench_times_the_familys_networks(family):
    from cola_platform.bench.sampling import _config as bench_config
    from cola_platform.bench.sampling import _measure_variant

    cfg = bench_config(family, "tiny", 64, {"sampler.steps": 2} if "sampler.steps" in family_keys(family) else {})
    passes = _measure_variant(family, cfg, batch=1, prompt_len=4, new_tokens=4, repeats=1)["passes"]
    expected = {"dit", "decoder", "encoder"} if family == "cola" else {"model"}
    assert set(passes) == expected and all(n > 0 for n in passes.values()), passes
