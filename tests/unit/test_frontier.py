"""The speed-quality frontier: knob grids from the family's declared knobs, the frontier, the headline
ratios, and a whole measurement on run directories of tiny AR and LLaDA models."""

from __future__ import annotations

import json

import pytest

from cola_core.registry import get_family
from cola_platform.bench.frontier import bench_frontier, headline, knob_grid, mark_frontier
from cola_platform.training.export import save_fp32
from tests.unit.token_model_helpers import story_tokenizer, tiny_token_model


def setting(tps: float, grammatical: float, stderr: float = 0.01, **knobs) -> dict:
    return {"knobs": knobs, "speed": {"8": {"tokens_per_second": tps}}, "grammatical": grammatical,
            "grammatical_stderr": stderr}  # fmt: skip


def test_each_family_sweeps_the_speed_knobs_it_declares():
    cola = knob_grid(get_family("cola").sampler_knobs)
    assert len(cola) == 4 * 2 * 2 and set(cola[0]) == {"steps", "cfg", "solver"}
    assert {tuple(sorted(g)) for g in knob_grid(get_family("llada").sampler_knobs)} == {
        ("block_length", "cfg", "steps")
    }
    assert knob_grid(get_family("ar").sampler_knobs) == [{}]


def test_frontier_and_headline_ratios():
    cola = [setting(100, 0.30, steps=4), setting(50, 0.48, steps=8), setting(20, 0.60, steps=32), setting(10, 0.2)]
    mark_frontier(cola, "8")
    assert [s["frontier"] for s in cola] == [True, True, True, False]  # the last is slower and worse than all
    ar = [setting(10, 0.50, stderr=0.05)]
    got = headline("cola", cola, "ar", ar, "8")
    assert got["cola_over_ar_at_ar_quality"] == pytest.approx(5.0)  # fastest Cola within one s.e. of 0.50
    assert got["cola_setting_at_ar_quality"] == {"steps": 8}
    assert got["cola_over_ar_at_cola_best_quality"] is None  # no AR setting reaches 0.60
    never = headline("cola", [setting(100, 0.0)], "ar", ar, "8")
    assert never["cola_over_ar_at_ar_quality"] is None and never["cola_over_ar_at_cola_best_quality"] is None
    ties = [setting(30, 0.0), setting(60, 0.0)]
    mark_frontier(ties, "8")
    assert [s["frontier"] for s in ties] == [False, True]  # equal quality: only the faster one


def test_a_measurement_on_run_directories(tmp_path):
    tok = story_tokenizer()
    runs = []
    for family in ("ar", "llada"):
        cfg, model = tiny_token_model(tok, family, seq_len=32, **{"run.family": family})
        run = tmp_path / family
        run.mkdir()
        cfg.save(run / "config.json")
        (run / "tokenizer.json").write_text(tok.to_json())
        save_fp32(model, run / "model.safetensors")
        runs.append(str(run))
    plot = tmp_path / "frontier.png"
    got = bench_frontier(runs, batches=(1, 2), samples=4, new_tokens=6, repeats=1, plot=plot)
    assert len(got["families"]["ar"]["settings"]) == 1 and len(got["families"]["llada"]["settings"]) == 4 * 2 * 2
    for entry in got["families"].values():
        for s in entry["settings"]:
            assert set(s["speed"]) == {"1", "2"} and s["speed"]["2"]["tokens_per_second"] > 0
            assert 0 <= s["grammatical"] <= 1 and s["grammatical_stderr"] >= 0
        assert any(s["frontier"] for s in entry["settings"])
    assert "cola_over_ar_at_ar_quality" not in got  # no Cola run given
    assert plot.stat().st_size > 0 and "| llada | steps 4, cfg 0.0, block_length 8 |" in got["markdown"]
    json.dumps(got)  # the JSON report holds it as it is
