"""jobs.prepare_data on Ray Data (the session's local Ray cluster) and shards read back as a Ray Dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cola_platform.data import prepare as prep
from cola_platform.data.manifest import read_manifest
from cola_platform.data.prepare import PrepareConfig, prepare
from cola_platform.data.ray_ingest import read_split_shards, tokens_collate_fn
from cola_platform.data.shards import read_split
from cola_platform.data.sources import Source
from cola_platform.errors import UserError

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]


def sw_config(out: Path, engine: str, **kw) -> PrepareConfig:
    return PrepareConfig(
        source=Source("storyworld", num_docs=kw.pop("num_docs", 600)),
        out=str(out),
        seq_len=64,
        vocab_size=400,
        shard_rows=kw.pop("shard_rows", 64),
        val_fraction=0.05,
        engine=engine,
        **kw,
    )


@pytest.fixture(scope="module")
def sw_ray(ray_cluster, tmp_path_factory):
    """Storyworld prepared once by the Ray engine."""
    out = tmp_path_factory.mktemp("ray") / "sw"
    return out, prepare(sw_config(out, "ray"))


def test_ray_engine_matches_local_engine(sw_ray, tmp_path):
    out, m = sw_ray
    local = prepare(sw_config(tmp_path / "local", "local"))
    assert m.stats["engine"] == "ray" and m.stats["units"] >= 8
    assert [(s.path, s.sha256) for s in m.shards] == [(s.path, s.sha256) for s in local.shards]
    assert m.num_documents == 600 and read_manifest(str(out)).shards == m.shards


def test_read_split_shards_matches_read_split(sw_ray):
    out, m = sw_ray
    ds = read_split_shards(str(out), m, "train")
    rows = np.concatenate([np.asarray(b["tokens"]) for b in ds.iter_batches(batch_size=32, batch_format="numpy")])
    expected = read_split(str(out), m, "train")
    assert rows.shape == expected.shape and rows.dtype == np.int32
    assert sorted(map(bytes, rows)) == sorted(map(bytes, expected))  # same rows (order is up to Ray Data)


def test_read_split_shards_feeds_the_train_ingest_collate(sw_ray):
    out, m = sw_ray
    ds = read_split_shards(str(out), m, "validation")
    batch = next(iter(ds.iter_torch_batches(batch_size=8, collate_fn=tokens_collate_fn())))
    assert tuple(batch.shape) == (8, 64)


def test_read_split_shards_rejects_a_modified_shard(sw_ray, tmp_path):
    import shutil

    out, m = sw_ray
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shard = copy / m.split_shards("validation")[0].path
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    # the check runs inside the Ray Data read task, which wraps the UserError in its own exception type
    with pytest.raises(Exception, match="does not match its manifest checksum"):
        read_split_shards(str(copy), read_manifest(str(copy)), "validation").take_all()


def test_decode_error_inside_a_ray_task_is_one_line_and_leaves_nothing(ray_cluster, tmp_path, monkeypatch):
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(10):
        (corpus / f"d{i}.txt").write_text("plain words here " * 40)
    (corpus / "d7.txt").write_bytes(b"plain words " * 10 + b"\xc0\xaf broken")
    monkeypatch.setattr(prep, "sample_texts", lambda *a, **k: ["plain words here"] * 50)  # the sample skips d7
    out = tmp_path / "out"
    cfg = PrepareConfig(source=Source(f"file:{corpus}"), out=str(out), seq_len=16, vocab_size=300, engine="ray")
    with pytest.raises(UserError) as err:
        prepare(cfg)
    assert str(err.value).startswith(str(corpus / "d7.txt")) and "at byte 120" in str(err.value)
    assert "Traceback" not in str(err.value)
    assert not out.exists() and not out.with_name("out.partial").exists()


def test_cli_uses_the_running_cluster(ray_cluster, tmp_path):
    address = ray_cluster.get_runtime_context().gcs_address
    out = tmp_path / "cli"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.prepare_data",
            "--source",
            "storyworld",
            "--num-docs",
            "300",
            "--seq-len",
            "64",
            "--vocab-size",
            "300",
            "--out",
            str(out),
            "--progress-seconds",
            "0",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "RAY_ADDRESS": address},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"connected to Ray cluster at {address}" in proc.stderr
    assert "prepare: 8/8 units (100%)" in proc.stderr  # progress lines
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["engine"] == "ray" and summary["num_documents"] == 300
    assert read_manifest(str(out)).num_sequences == summary["num_sequences"]
