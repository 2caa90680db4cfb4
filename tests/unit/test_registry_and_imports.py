"""The family registry, and the rule that cola_core stays pure PyTorch."""

import subprocess
import sys

import pytest

from cola_core.config import ConfigError
from cola_core.registry import family_names, get_family


def test_all_families_registered_with_full_specs():
    assert {"ar", "llada"} <= set(family_names())
    for name in family_names():
        spec = get_family(name)
        assert spec.name == name
        for fn in (spec.build_model, spec.build_objective, spec.build_sampler, spec.count_params, spec.flops_per_token):
            assert callable(fn)


def test_unknown_family_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown family 'gpt'.*ar"):
        get_family("gpt")


def test_cola_core_imports_no_platform_libraries():
    code = (
        "import pkgutil, importlib, sys, cola_core\n"
        "for m in pkgutil.walk_packages(cola_core.__path__, 'cola_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in ('ray', 'mlflow', 's3fs', 'deepspeed') if n in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"cola_core pulled in: {out.stdout.strip()}"
