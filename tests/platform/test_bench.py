"""jobs.bench in its tiny mode: every part runs and writes the JSON schema users and BENCHMARKS.md rely on.

No timing thresholds here: only that each figure exists, is positive where it must be, and is
consistent with the others (performance targets live in BENCHMARKS.md, measured with the full bench).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.bench", *args, "--tiny"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def _timing_ok(t: dict) -> None:
    assert t["repeats"] == len(t["samples"]) >= 1 and t["min"] <= t["median"] <= t["max"] and t["spread"] >= 0


def _header_ok(report: dict, part: str) -> None:
    assert report["command"].startswith(f"python -m jobs.bench {part} --json")
    m = report["machine"]
    assert m["cores"] == os.cpu_count() and m["torch_threads"] >= 1 and m["blas"]
    assert report["gemm_peak"]["flops_per_second"] > 1e8 and report["gemm_peak_after"]["flops_per_second"] > 1e8


def test_train_and_sample_parts(tmp_path):
    out = tmp_path / "b.json"
    proc = bench(
        "train", "--json", str(out), "--profile", "ar/tiny", "--train-compile", "ar"
    )  # one compile: ~1 min each
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    _header_ok(report, "train")
    train = report["results"]["train"]
    for family in ("ar", "llada", "cola"):
        row = train[f"{family}/tiny"]
        _timing_ok(row["step_seconds"])
        assert row["tokens_per_second"] == pytest.approx(
            row["micro_batch"] * row["seq_len"] / row["step_seconds"]["median"], rel=1e-3
        )  # the JSON rounds seconds to microseconds
        assert row["fraction_of_gemm_peak"] == pytest.approx(
            row["model_flops_per_second"] / report["gemm_peak"]["flops_per_second"]
        )
    assert train["ar/tiny/compiled"]["compiled"] and "llada/tiny/compiled" not in train
    profile = train["profiles"]["ar/tiny"]
    shares = [op["share"] for op in profile["top_ops"]]
    assert 0 < sum(shares) <= 1 + 1e-9 and shares == sorted(shares, reverse=True)
    assert any(op["op"] in ("aten::mm", "aten::addmm") for op in profile["top_ops"])
    assert "## Training step" in out.with_suffix(".md").read_text() and "## Training step" in proc.stdout

    proc = bench("sample", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    sample = json.loads(out.read_text())["results"]["sample"]
    for key, run in sample["runs"].items():
        assert run["tokens"] == run["batch"] * run["new_tokens"], key  # EOS never cuts a benchmark call short
        _timing_ok(run["latency_seconds"])
        assert run["wall_over_network"] >= 0.99, key  # the hooks time a subset of the wall time
    for batch in (1, 2):
        cola = sample["runs"][f"cola_steps8_cfg4/b{batch}"]
        blocks = sample["new_tokens"] // sample["pass_costs"][f"b{batch}"]["block_size"]
        assert cola["passes"]["decoder"] == blocks + 1  # + the prompt's complete blocks
        assert cola["passes"]["dit"] == blocks * 8 + 1  # steps per block, + the prompt-prefix pass
        assert sample["runs"][f"ar/b{batch}"]["passes"]["model"] == sample["new_tokens"]  # prefill + one per token - 1
    for pred in sample["cola_vs_ar"].values():
        assert pred["this_machine"] > 0 and pred["memory_bound_accelerator"] > 0
        assert pred["measured_over_predicted"] == pytest.approx(pred["measured"] / pred["this_machine"])


@pytest.mark.ray
def test_data_and_platform_parts(ray_cluster, tmp_path):
    out = tmp_path / "b.json"
    env = {"RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address}
    proc = bench("data", "--json", str(out), "--workdir", str(tmp_path / "w"), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())["results"]["data"]
    for key in (
        "tokenize_only",
        "prepare_local_jsonl",
        "prepare_ray_jsonl",
        "prepare_local_storyworld",
        "prepare_ray_storyworld",
        "ingest_ray_data",
        "ingest_read_split",
    ):
        assert data[key]["tokens_per_second"] > 0, key
    assert data["prepare_ray_jsonl"]["tokens"] == data["prepare_local_jsonl"]["tokens"]
    assert data["ingest_ray_data"]["tokens"] == data["ingest_read_split"]["tokens"]
    rate = data["training_consumption"]["tokens_per_second"]
    assert data["ingest_ray_data_warm"]["over_training"] == pytest.approx(
        data["ingest_ray_data_warm"]["tokens_per_second"] / rate
    )

    proc = bench("platform", "--json", str(out), "--workdir", str(tmp_path / "w"), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    platform = json.loads(out.read_text())["results"]["platform"]
    for label in ("in_process", "in_process_1thread", "ray_2w_zero2"):
        assert platform[label]["step_seconds"]["repeats"] == 8 - 2, label  # logged steps minus warm-up
        assert platform[label]["tokens_per_second"] > 0
    assert platform["ray_2w_zero2"]["world_size"] == 2 and platform["ray_2w_zero2"]["micro_batch_size"] == 2
    assert platform["ratio_to_in_process"] == pytest.approx(
        platform["ray_2w_zero2"]["tokens_per_second"] / platform["in_process"]["tokens_per_second"]
    )
    assert platform["fixed_cost"]["overhead_seconds"] > 0
    assert "## Platform" in proc.stdout


def test_bad_repeats_is_a_one_line_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.bench", "train", "--json", str(tmp_path / "b.json"), "--repeats", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert (
        proc.returncode == 2 and proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    )
    assert not (tmp_path / "b.json").exists()
