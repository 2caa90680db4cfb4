"""prepare_data from and to S3 (moto server on loopback), reading shards back, and unreachable endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cola_platform.cluster.net import free_port
from cola_platform.data.manifest import read_manifest
from cola_platform.data.prepare import PrepareConfig, prepare
from cola_platform.data.shards import read_split
from cola_platform.data.sources import Source
from cola_platform.errors import UserError

REPO = Path(__file__).resolve().parents[2]
WORDS = "a quiet fox ran past the old mill and the river bank while birds sang".split()


def s3fs_for(endpoint: str):
    import s3fs

    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)


def upload_corpus(fs, prefix: str) -> None:
    """.txt, .jsonl and .parquet inputs under s3://prefix/."""
    rng = np.random.default_rng(2)
    for i in range(4):
        fs.pipe(f"{prefix}/txt/d{i}.txt", (" ".join(rng.choice(WORDS, 400)) + "\n").encode())
    lines = "".join(json.dumps({"body": " ".join(rng.choice(WORDS, 50))}) + "\n" for _ in range(60))
    fs.pipe(f"{prefix}/jsonl/part.jsonl", lines.encode())
    table = pa.table({"body": [" ".join(rng.choice(WORDS, 50)) for _ in range(40)]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    fs.pipe(f"{prefix}/parquet/part.parquet", sink.getvalue().to_pybytes())


def run_job(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.prepare_data", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env=dict(os.environ),
    )


@pytest.mark.ray
def test_s3_in_s3_out_on_ray_and_read_back(ray_cluster, s3_server, s3_bucket):
    from cola_platform.data.ray_ingest import read_split_shards

    fs = s3fs_for(s3_server)
    upload_corpus(fs, s3_bucket[5:] + "/in")
    out = f"{s3_bucket}/data/mixed"
    cfg = PrepareConfig(
        source=Source(f"{s3_bucket}/in", text_field="body"),
        out=out,
        seq_len=32,
        vocab_size=300,
        shard_rows=32,
        val_fraction=0.1,
        engine="ray",
    )
    m = prepare(cfg)
    assert m.num_documents == 104 and m.stats["engine"] == "ray"
    fs.invalidate_cache()
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(out[5:]))
    assert names == sorted([s.path for s in m.shards] + ["manifest.json", "tokenizer.json"])
    assert not fs.exists(out[5:] + ".partial")
    disk = read_manifest(out)
    train = read_split(out, disk, "train")
    assert train.shape == (disk.split_rows("train"), 32)
    ds = read_split_shards(out, disk, "train")
    rows = np.concatenate([np.asarray(b["tokens"]) for b in ds.iter_batches(batch_size=16, batch_format="numpy")])
    assert sorted(map(bytes, rows)) == sorted(map(bytes, train))


def test_s3_cli_local_engine_same_split_as_local_copy(s3_server, s3_bucket, tmp_path):
    fs = s3fs_for(s3_server)
    upload_corpus(fs, s3_bucket[5:] + "/in")
    proc = run_job(
        "--source",
        f"{s3_bucket}/in/jsonl",
        "--text-field",
        "body",
        "--out",
        f"{s3_bucket}/out",
        "--seq-len",
        "16",
        "--engine",
        "local",
        "--s3-endpoint",
        s3_server,
        "--val-fraction",
        "0.2",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    s3_manifest = read_manifest(f"{s3_bucket}/out")
    assert summary["num_sequences"] == s3_manifest.num_sequences > 0
    local_in = tmp_path / "jsonl"
    fs.get(s3_bucket[5:] + "/in/jsonl/", str(local_in), recursive=True)
    local = prepare(
        PrepareConfig(
            source=Source(f"file:{local_in}", text_field="body"),
            out=str(tmp_path / "o"),
            seq_len=16,
            vocab_size=4096,
            val_fraction=0.2,
            engine="local",
        )
    )
    assert local.split["documents"] == s3_manifest.split["documents"]  # keys depend on relative paths only


def test_corrupt_shard_on_s3_is_refused(s3_server, s3_bucket, tmp_path):
    fs = s3fs_for(s3_server)
    upload_corpus(fs, s3_bucket[5:] + "/in")
    out = f"{s3_bucket}/data"
    prepare(PrepareConfig(source=Source(f"{s3_bucket}/in/txt"), out=out, seq_len=16, vocab_size=300, engine="local"))
    m = read_manifest(out)
    fs.pipe(f"{out[5:]}/{m.shards[0].path}", b"PAR1 not really parquet")
    with pytest.raises(UserError, match="does not match its manifest checksum"):
        read_split(out, m, "train")


@pytest.mark.parametrize("where", ["source", "out"])
def test_unreachable_s3_endpoint_fails_fast_with_one_line(s3_server, tmp_path, where):
    dead = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "a.txt").write_text("some words " * 100)
    source = "s3://nobucket/in" if where == "source" else f"file:{tmp_path / 'a.txt'}"
    out = str(tmp_path / "out") if where == "source" else "s3://nobucket/out"
    start = time.perf_counter()
    proc = run_job("--source", source, "--out", out, "--seq-len", "16", "--s3-endpoint", dead, timeout=60)
    took = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "cannot reach" in errors[0] and dead in errors[0], proc.stderr
    assert took < 30
    assert not (tmp_path / "out").exists()


def test_missing_bucket_and_prefix_are_clear_errors(s3_server, s3_bucket, tmp_path):
    (tmp_path / "a.txt").write_text("some words " * 100)
    proc = run_job(
        "--source",
        f"file:{tmp_path / 'a.txt'}",
        "--out",
        "s3://no-such-bucket-xyz/out",
        "--seq-len",
        "16",
        "--engine",
        "local",
    )
    assert proc.returncode == 2 and "bucket 'no-such-bucket-xyz' does not exist" in proc.stderr
    proc = run_job("--source", f"{s3_bucket}/nothing/here", "--out", str(tmp_path / "o"), "--seq-len", "16")
    assert proc.returncode == 2 and "does not exist" in proc.stderr.strip().splitlines()[-1]
