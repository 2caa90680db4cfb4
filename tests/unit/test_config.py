"""Config tree: dotted overrides, type coercion, validation messages, TOML, hashing."""

import pytest

from cola_core.config import Config, ConfigError, apply_overrides, load_toml, parse_set_args, set_key
from cola_core.config_checks import validate


def test_override_coerces_types():
    cfg = Config()
    apply_overrides(
        cfg, parse_set_args(["optim.lr=3e-4", "model.dim=96", "data.shuffle=false", "model.vae_logsnr=fixed:1.5"])
    )
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.model.dim == 96 and isinstance(cfg.model.dim, int)
    assert cfg.data.shuffle is False
    assert cfg.model.fixed_logsnr() == pytest.approx(1.5)


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("model.nope", "1", "unknown config key 'model.nope'"),
        ("nosection.dim", "1", "unknown config key"),
        ("dim", "1", "SECTION.FIELD"),
        ("model.dim", "abc", "model.dim='abc' is not a valid int"),
        ("data.shuffle", "maybe", "not a boolean"),
    ],
)
def test_bad_override_names_the_problem(key, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        set_key(Config(), key, value)


def test_set_arg_without_equals_is_rejected():
    with pytest.raises(ConfigError, match="key=value"):
        parse_set_args(["optim.lr"])


def test_block_size_must_divide_seq_len():
    cfg = Config()
    cfg.run.family = "cola"
    apply_overrides(cfg, {"model.block_size": 5, "data.seq_len": 256})
    with pytest.raises(ConfigError, match=r"model\.block_size=5 must divide data\.seq_len=256"):
        validate(cfg)


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        ({"model.vae_logsnr": "fixed:abc"}, "not a number"),
        ({"model.vae_logsnr": "sometimes"}, "'learned' or 'fixed:<value>'"),
        ({"objective.t_sampling": "cosine"}, "must be one of"),
        ({"model.dim": 100, "model.n_heads": 3}, "divisible"),
        ({"objective.mask_ratio": 1.5}, r"\[0, 1\]"),
        ({"train.steps": 0}, "must be positive"),
        ({"train.zero_stage": 4}, "0, 1, 2 or 3"),
    ],
)
def test_validation_messages(overrides, fragment):
    cfg = apply_overrides(Config(), overrides)
    with pytest.raises(ConfigError, match=fragment):
        validate(cfg)


def test_toml_roundtrip_and_errors(tmp_path):
    good = tmp_path / "s.toml"
    good.write_text("[model]\ndim = 96\n[optim]\nlr = 0.002\n")
    cfg = Config.from_dict(load_toml(good))
    assert cfg.model.dim == 96 and cfg.optim.lr == pytest.approx(0.002)
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_toml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown config key"):
        Config.from_dict({"model": {"bogus": 1}})


def test_hash_ignores_run_section_but_not_model(tmp_path):
    a, b = Config(), Config()
    b.run.name = "other"
    assert a.hash() == b.hash()
    b.model.dim = 256
    assert a.hash() != b.hash()
    c = Config()
    c.run.family = "llada"
    assert c.hash() != a.hash(), "same shapes, different family: a different run"
    a.save(tmp_path / "c.json")
    assert Config.load(tmp_path / "c.json") == a
