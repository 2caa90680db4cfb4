"""jobs.bench: the JSON report, placeholder parts, and the data part on the session's Ray cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.bench", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=600, env={**os.environ, **(env or {})})


def test_sample_part_measures_every_family(tmp_path):
    out = tmp_path / "b.json"
    proc = bench("sample", "--json", str(out), "--sample-preset", "tiny", "--vocab-size", "300")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["command"].startswith("python -m jobs.bench sample --json") and report["cores"] == os.cpu_count()
    results = report["results"]["sample"]
    for key in ("ar", "llada_steps32_cfg0", "cola_steps16_cfg4", "cola_steps8_cfg0"):
        assert results[key]["tokens"] > 0 and results[key]["tokens_per_second"] > 0, key


@pytest.mark.ray
def test_data_part_measures_tokens_per_second(ray_cluster, tmp_path):
    out = tmp_path / "b.json"
    proc = bench("data", "--json", str(out), "--data-docs", "400", "--seq-len", "64", "--vocab-size", "300",
                 "--workdir", str(tmp_path / "w"), env={"RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address})
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())["results"]["data"]
    for key in ("tokenize_only", "prepare_local_jsonl", "prepare_ray_jsonl", "prepare_local_storyworld",
                "prepare_ray_storyworld", "ingest_ray_data", "ingest_read_split"):
        assert data[key]["tokens_per_second"] > 0, key
    assert data["prepare_ray_jsonl"]["tokens"] == data["prepare_local_jsonl"]["tokens"]
    assert data["ingest_ray_data"]["tokens"] == data["ingest_read_split"]["tokens"]
