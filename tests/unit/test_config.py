"""Config tree: dotted overrides, type coercion, validation messages, TOML, hashing."""

import pytest

from cola_core.config import Config, ConfigError, apply_overrides, set_key
from cola_core.config_text import load_toml, parse_set_args
from cola_core.config_checks import validate


def test_override_coerces_types():
    cfg = Config.for_family("cola")
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
    cfg = Config.for_family("cola")
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
        ({"train.zero_stage": 4}, "must be one of 0, 1, 2, 3"),
        ({"sampler.solver": "rk4"}, "must be one of euler, heun"),
    ],
)
def test_validation_messages(overrides, fragment):
    cfg = apply_overrides(Config.for_family("cola"), overrides)
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
    c = Config.for_family("llada")
    assert c.hash() != a.hash(), "same shapes, different family: a different run"
    a.save(tmp_path / "c.json")
    assert Config.load(tmp_path / "c.json") == a


def test_each_family_has_its_own_sections():
    ar, cola, llada = (Config.for_family(f).flat() for f in ("ar", "cola", "llada"))
    assert "model.latent_dim" in cola and "model.latent_dim" not in ar and "model.latent_dim" not in llada
    assert "objective.llada_eps" in llada and not any(k.startswith("objective.") for k in ar)
    assert "sampler.solver" in cola and "sampler.remasking" in llada and "sampler.steps" not in ar
    assert "train.latent_evolution" in cola and "train.latent_evolution" not in ar
    assert "model.tie_embeddings" in ar and "model.tie_embeddings" not in cola
    with pytest.raises(ConfigError, match="'model.latent_dim' is not a setting of family 'ar'"):
        apply_overrides(Config(), {"model.latent_dim": 64})
    # switching family keeps what both have, and run.family applies first whatever the order of the keys
    cfg = apply_overrides(Config(), {"model.latent_dim": 64, "model.dim": 96, "run.family": "cola"})
    assert cfg.model.latent_dim == 64 and cfg.model.dim == 96
    assert apply_overrides(cfg, {"run.family": "ar"}).model.dim == 96


def test_a_section_of_another_family_is_refused_by_validate():
    cfg = Config.for_family("cola")
    cfg.run.family = "llada"  # not through set_key: the sections stay Cola's
    with pytest.raises(ConfigError, match="family 'llada' needs a TokenModelConfig"):
        validate(cfg)


@pytest.mark.parametrize(
    "family,overrides,name",
    [  # names of run directories written when one flat model section served every family
        ("ar", {}, "0b5022fb0a"),
        ("cola", {}, "bb0f8ef0a9"),
        ("llada", {}, "c1e53756e6"),
        ("ar", {"model.tie_embeddings": True, "model.dim": 64}, "836522addf"),
        (
            "cola",
            {
                "model.latent_dim": 64,
                "objective.noise_loc": 1.7,
                "train.stage": 2,
                "train.latent_evolution": "fixed_vae",
            }
            | {"sampler.cfg": 2.0},
            "cce605d472",
        ),
        ("llada", {"sampler.block_length": 32, "objective.llada_random_length_prob": 0.0}, "80163e67ac"),
    ],
)
def test_run_names_of_the_flat_config_are_kept(family, overrides, name):
    cfg = apply_overrides(Config.for_family(family), overrides)
    assert cfg.hash() == name
    assert Config.from_dict(cfg.to_dict()).hash() == name


def test_another_familys_defaults_do_not_rename_a_run(monkeypatch):
    from dataclasses import dataclass

    from cola_core.families.cola.config import ColaModelConfig
    from cola_core.registry import get_family

    @dataclass
    class ChangedDefault(ColaModelConfig):
        latent_dim: int = 32

    names = {f: Config.for_family(f).hash() for f in ("ar", "cola", "llada")}
    monkeypatch.setitem(get_family("cola").sections, "model", ChangedDefault)
    assert Config.for_family("cola").model.latent_dim == 32 and Config.for_family("cola").hash() != names["cola"]
    assert {f: Config.for_family(f).hash() for f in ("ar", "llada")} == {"ar": names["ar"], "llada": names["llada"]}


def test_a_config_file_written_with_every_familys_fields_still_loads(tmp_path):
    old = {  # an AR run's config.json from before sections were per family (abridged: the rest at defaults)
        "model": {"dim": 64, "latent_dim": 16, "vae_logsnr": "learned", "tie_embeddings": False},
        "objective": {"beta_kl": 0.001, "llada_eps": 0.001},
        "sampler": {"steps": 16, "solver": "euler", "temperature": 0.5},
        "train": {"latent_evolution": "joint", "steps": 7},
        "run": {"family": "ar"},
    }
    cfg = Config.from_dict(old)
    assert cfg.model.dim == 64 and cfg.train.steps == 7 and cfg.sampler.temperature == 0.5
    assert "model.latent_dim" not in cfg.flat()
    with pytest.raises(ConfigError, match="unknown config key 'model.bogus'"):
        Config.from_dict({**old, "model": {"bogus": 1}})
