"""`COLA_FAMILY_MODULES`: families registered from modules outside the package."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cola_core import registry
from cola_core.config import Config, ConfigError, apply_overrides

BIGRAM = Path(__file__).resolve().parents[1] / "families" / "bigram.py"


@pytest.fixture
def isolated_registry(monkeypatch):
    """The registry as it is, restored afterwards (a module registered here stays out of other tests)."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOADED_MODULES", set())
    return monkeypatch


def test_a_family_file_named_in_the_environment_is_listed_and_built(isolated_registry):
    assert "bigram" not in registry.family_names()
    isolated_registry.setenv(registry.FAMILY_MODULES_ENV, str(BIGRAM))
    assert "bigram" in registry.family_names()
    spec = registry.get_family("bigram")
    cfg = apply_overrides(Config(), {"run.family": "bigram", "model.vocab_size": 300})
    model = spec.build_model(cfg)
    tokens = torch.randint(0, 300, (2, 9))
    assert spec.build_objective(cfg)(model, tokens, 0).loss.item() == pytest.approx(torch.log(torch.tensor(300.0)))
    assert spec.count_params(cfg.model).total == sum(p.numel() for p in model.parameters())


def test_an_entry_that_cannot_be_imported_is_one_line(isolated_registry, tmp_path):
    isolated_registry.setenv(registry.FAMILY_MODULES_ENV, f"{tmp_path / 'missing.py'}")
    with pytest.raises(ConfigError, match=r"COLA_FAMILY_MODULES entry .*missing\.py' cannot be imported"):
        registry.family_names()
    isolated_registry.setattr(registry, "_LOADED_MODULES", set())
    isolated_registry.setenv(registry.FAMILY_MODULES_ENV, "no_such_package.families")
    with pytest.raises(ConfigError, match="'no_such_package.families' cannot be imported"):
        registry.get_family("nope")
