"""The family registry, and the rule that cola_core stays pure PyTorch."""

import importlib
import subprocess
import sys
from dataclasses import replace

import pytest

from cola_core.config import ConfigError
from cola_core.registry import _BUILTIN, _REGISTRY, export_format_names, family_names, get_family, register_family


def test_all_families_registered_with_full_specs():
    assert {"ar", "llada"} <= set(family_names())
    for name in family_names():
        spec = get_family(name)
        assert spec.name == name
        for fn in (spec.build_model, spec.build_objective, spec.build_sampler, spec.count_params, spec.flops_per_token):
            assert callable(fn)


def test_result_fields_name_config_fields_and_reach_result_json():
    from cola_core.presets import resolve_config
    from cola_core.train.loop import LoopResult
    from cola_platform.training.result import build_result

    loop = LoopResult(
        steps=1,
        initial_loss=1.0,
        final_loss=1.0,
        eval={},
        tokens_seen=1,
        train_flops=1.0,
        tokens_per_second=1.0,
        train_seconds=1.0,
    )
    for name in family_names():
        cfg = resolve_config(name, "tiny")
        result = build_result(cfg, loop, world_size=1)
        for field_name in get_family(name).result_fields:
            section, key = field_name.split(".")
            assert result[key] == getattr(getattr(cfg, section), key)
    assert get_family("cola").result_fields == ("train.stage", "train.latent_evolution")
    assert "stage" not in build_result(resolve_config("ar", "tiny"), loop, world_size=1)


def test_family_names_import_no_family_package():
    code = (
        "import sys\nfrom cola_core.registry import export_format_names, family_names\n"
        "print(family_names(), export_format_names(),\n"
        "      sorted(m for m in ('torch', 'cola_core.families.ar') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['ar', 'cola', 'llada'] ['cola', 'llama'] []"


def test_builtin_table_matches_each_familys_spec():
    for name, (package, formats) in _BUILTIN.items():
        spec = get_family(name)
        assert importlib.import_module(package).SPEC is spec and sorted(spec.export_formats) == sorted(formats)


def test_a_family_registered_at_runtime_is_listed_and_found():
    ar = get_family("ar")
    spec = register_family(replace(ar, name="bare", export_formats={"bare-fmt": ar.export_formats["llama"]}))
    try:
        assert "bare" in family_names() and get_family("bare") is spec
        assert "bare-fmt" in export_format_names() and "llama" in export_format_names()
    finally:
        _REGISTRY.pop("bare")
    assert "bare" not in family_names() and "bare-fmt" not in export_format_names()


def test_unknown_family_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown family 'gpt'.*ar"):
        get_family("gpt")


def test_cola_core_imports_no_platform_libraries():
    code = (
        "import pkgutil, importlib, sys, cola_core\n"
        "for m in pkgutil.walk_packages(cola_core.__path__, 'cola_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in ('ray', 'mlflow', 's3fs', 'deepspeed', 'transformers') if n in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"cola_core pulled in: {out.stdout.strip()}"


def test_preset_ladder_reports_each_familys_registered_run():
    from cola_core.presets import resolve_config
    from jobs.presets import ladder

    rows = {(r["preset"], r["family"]): r for r in ladder(vocab_size=512)}
    stage2 = resolve_config("cola", "tiny", {"model.vocab_size": 512, **get_family("cola").ladder_overrides})
    assert stage2.train.stage == 2
    assert rows["tiny", "cola"]["train_flops_per_token"] == get_family("cola").flops_per_token(stage2).train
    stage1 = resolve_config("cola", "tiny", {"model.vocab_size": 512, "train.stage": 1})
    assert rows["tiny", "cola"]["train_flops_per_token"] != get_family("cola").flops_per_token(stage1).train
    assert get_family("ar").ladder_overrides == {}
