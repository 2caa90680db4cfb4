"""Reading prepared data back: corrupt shards and manifests whose checksums do not match are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cola_platform.data.manifest import read_manifest, sha256_bytes
from cola_platform.data.prepare import PrepareConfig, prepare
from cola_platform.data.shards import read_split
from cola_platform.data.sources import Source
from cola_platform.errors import UserError
from cola_platform.faults.inject import flip_middle_byte

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data(tmp_path) -> Path:
    out = tmp_path / "sw"
    prepare(
        PrepareConfig(
            source=Source("storyworld", num_docs=300),
            out=str(out),
            seq_len=64,
            vocab_size=300,
            shard_rows=128,
            val_fraction=0.1,
            engine="local",
        )
    )
    return out


def first_train_shard(data: Path) -> Path:
    return data / read_manifest(str(data)).split_shards("train")[0].path


def test_intact_data_reads(data):
    m = read_manifest(str(data))
    assert read_split(str(data), m, "train").shape == (m.split_rows("train"), 64)


def test_checksum_mismatch_is_refused(data):
    shard = first_train_shard(data)
    flip_middle_byte(shard)
    with pytest.raises(UserError, match=rf"shard .*{shard.name} does not match its manifest checksum"):
        read_split(str(data), read_manifest(str(data)), "train")


def test_corrupt_parquet_with_matching_checksum_is_refused(data):
    """A manifest rewritten to match garbage still fails: the shard is not readable Parquet."""
    shard = first_train_shard(data)
    shard.write_bytes(b"PAR1" + b"\x00" * 100)
    manifest = json.loads((data / "manifest.json").read_text())
    for s in manifest["shards"]:
        if s["path"] == shard.name:
            s["sha256"] = sha256_bytes(shard.read_bytes())
    (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="is not a readable token shard"):
        read_split(str(data), read_manifest(str(data)), "train")


def test_missing_shard_and_broken_manifest_are_refused(data):
    first_train_shard(data).unlink()
    with pytest.raises(UserError, match="listed in the manifest is missing"):
        read_split(str(data), read_manifest(str(data)), "train")
    (data / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="is not a valid manifest"):
        read_manifest(str(data))


def test_train_cli_refuses_a_corrupt_shard(data, tmp_path):
    shard = first_train_shard(data)
    shard.write_bytes(shard.read_bytes()[:-7] + b"garbage")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.train",
            "--family",
            "ar",
            "--preset",
            "tiny",
            "--data",
            str(data),
            "--steps",
            "1",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error:") and "does not match its manifest checksum" in last and "Traceback" not in proc.stderr
    )
    assert not (tmp_path / "run").exists(), "a run that could not read its data left files behind"
