"""jobs.prepare_data on the in-process engine: outputs, manifest, streaming, resume, and bad input (no Ray)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cola_core.data.tokenizer import load_tokenizer
from cola_platform.data import prepare as prep
from cola_platform.data.manifest import read_manifest
from cola_platform.data.prepare import PrepareConfig, prepare
from cola_platform.data.shards import read_split
from cola_platform.data.sources import Source
from cola_platform.errors import UserError

REPO = Path(__file__).resolve().parents[2]
WORDS = "the old fox saw a quiet river and a tall tree near the small house then walked home".split()


def run_job(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m jobs.prepare_data ARGS` from the repo root."""
    return subprocess.run(
        [sys.executable, "-m", "jobs.prepare_data", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def make_corpus(root: Path, n_txt: int = 12, n_jsonl: int = 80) -> Path:
    """A few .txt files and a .jsonl file of pseudo-random sentences."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_txt):
        (root / f"doc{i:02d}.txt").write_text(" ".join(rng.choice(WORDS, 300)) + ".\r\n")
    with open(root / "more.jsonl", "w") as f:
        for i in range(n_jsonl):
            f.write(json.dumps({"text": " ".join(rng.choice(WORDS, 60)), "id": i}) + "\n")
    return root


def config(source: str, out: Path, **kw) -> PrepareConfig:
    src_kw = {k: kw.pop(k) for k in ("decode_errors", "max_doc_bytes", "num_docs", "text_field") if k in kw}
    return PrepareConfig(
        source=Source(source, **src_kw),
        out=str(out),
        seq_len=kw.pop("seq_len", 32),
        vocab_size=kw.pop("vocab_size", 300),
        engine=kw.pop("engine", "local"),
        shard_rows=kw.pop("shard_rows", 64),
        val_fraction=kw.pop("val_fraction", 0.1),
        **kw,
    )


def assert_no_output(out: Path) -> None:
    assert not out.exists(), sorted(os.listdir(out))
    assert not out.with_name(out.name + ".partial").exists()


def test_local_engine_writes_checked_shards_and_manifest(tmp_path):
    corpus, out = make_corpus(tmp_path / "c"), tmp_path / "out"
    m = prepare(config(f"file:{corpus}", out))
    disk = read_manifest(str(out))
    assert disk.num_sequences == m.num_sequences > 0 and disk.num_tokens == 32 * disk.num_sequences
    assert disk.tokenizer_hash == load_tokenizer(out / "tokenizer.json").fingerprint()
    assert disk.num_documents == 92 and disk.split["val_fraction"] == 0.1
    assert sum(disk.split["documents"].values()) == 92 and disk.split["documents"]["validation"] > 0
    train, val = read_split(str(out), disk, "train"), read_split(str(out), disk, "validation")
    assert train.shape == (disk.split_rows("train"), 32) and val.shape[1] == 32 and train.dtype == np.int32
    assert all(s.rows <= 64 for s in disk.shards) and (train == disk.special_tokens["eos"]).sum() > 0
    stats = disk.stats
    assert stats["tokens"] == disk.num_tokens + stats["tail_tokens_dropped"]
    assert stats["dropped_empty"] == 0 and stats["decode_replaced"] == 0 and stats["engine"] == "local"
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".parquet")) == [
        "manifest.json",
        "tokenizer.json",
    ]


def test_cli_summary_line_shard_mb_and_given_tokenizer(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    first = tmp_path / "a"
    assert prepare(config(f"file:{corpus}", first)).num_sequences > 0
    proc = run_job(
        "--source",
        f"file:{corpus}",
        "--out",
        str(tmp_path / "b"),
        "--seq-len",
        "16",
        "--engine",
        "local",
        "--shard-mb",
        "0.002",
        "--tokenizer",
        str(first / "tokenizer.json"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["num_tokens"] == 16 * summary["num_sequences"] and summary["engine"] == "local"
    m = read_manifest(str(tmp_path / "b"))
    assert max(s.rows for s in m.shards) == 32  # 0.002 MiB / (16 tokens * 4 bytes)
    assert m.tokenizer_hash == read_manifest(str(first)).tokenizer_hash


def _binary(tmp: Path) -> Path:
    (tmp / "d").mkdir()
    (tmp / "d" / "good.txt").write_text("fine text " * 50)
    (tmp / "d" / "image.txt").write_bytes(b"caption: a png\n" + b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return tmp / "d"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.txt").write_text("")
    return tmp / "empty.txt"


def _no_match(tmp: Path) -> Path:
    (tmp / "d").mkdir()
    (tmp / "d" / "table.csv").write_text("a,b\n1,2\n")
    return tmp / "d"


@pytest.mark.parametrize(
    "make,fragments",
    [
        (lambda t: t / "nope", ["does not exist"]),
        (_empty, ["empty.txt is empty"]),
        (_no_match, ["no .txt/.jsonl/.parquet files under"]),
        (_binary, ["image.txt", "not valid UTF-8 at byte 15"]),
    ],
)
def test_bad_input_is_one_error_line_and_no_output(tmp_path, make, fragments):
    out = tmp_path / "out"
    proc = run_job("--source", f"file:{make(tmp_path)}", "--out", str(out), "--seq-len", "16", "--vocab-size", "300")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert_no_output(out)


def test_huge_single_document_is_streamed_with_a_small_budget(tmp_path):
    rng = np.random.default_rng(1)
    big = tmp_path / "big.txt"
    big.write_text(" ".join(rng.choice(WORDS, 120_000)))  # ~0.6 MB, one document
    out = tmp_path / "out"
    proc = run_job(
        "--source",
        f"file:{big}",
        "--out",
        str(out),
        "--seq-len",
        "64",
        "--engine",
        "local",
        "--max-doc-mb",
        "0.01",
        "--val-fraction",
        "0",
        "--tokenizer-sample-mb",
        "0.05",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = read_manifest(str(out))
    assert m.num_documents == 1 and m.stats["streamed_documents"] == 1
    assert m.stats["chunks"] >= big.stat().st_size // 10486
    assert m.num_tokens > 100_000  # the whole document got tokenized, not a prefix
    tok = load_tokenizer(out / "tokenizer.json")
    text = tok.decode(read_split(str(out), m, "train").reshape(-1)[:2000])
    assert set(text.split()) <= set(WORDS)  # chunk cuts at whitespace: no broken words


def test_decode_replace_counts_into_the_manifest(tmp_path):
    corpus = make_corpus(tmp_path / "c", n_txt=3, n_jsonl=20)
    (corpus / "bad.txt").write_bytes(b"some text \xff\xfe and more \xc3(")
    m = prepare(config(f"file:{corpus}", tmp_path / "out", decode_errors="replace"))
    assert m.stats["decode_replaced"] == 3 and m.num_documents == 24


def test_all_empty_documents_and_too_little_text_fail_cleanly(tmp_path):
    (tmp_path / "blank.jsonl").write_text('{"text": "  "}\n{"text": ""}\n')
    with pytest.raises(UserError, match="no text"):
        prepare(config(f"file:{tmp_path / 'blank.jsonl'}", tmp_path / "o1"))
    assert_no_output(tmp_path / "o1")
    (tmp_path / "tiny.txt").write_text("just a few words")
    with pytest.raises(UserError, match="too little text"):
        prepare(config(f"file:{tmp_path / 'tiny.txt'}", tmp_path / "o2", seq_len=512))
    assert_no_output(tmp_path / "o2")


def test_interrupted_run_leaves_no_manifest_and_resumes(tmp_path, monkeypatch, caplog):
    corpus = make_corpus(tmp_path / "c", n_txt=16, n_jsonl=0)
    reference = prepare(config(f"file:{corpus}", tmp_path / "ref"))
    calls = {"n": 0}
    real = prep.process_unit

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(prep, "process_unit", flaky)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        prepare(config(f"file:{corpus}", out))
    assert not out.exists() and len(list(out.with_name("out.partial").glob("_done-*"))) == 3
    monkeypatch.setattr(prep, "process_unit", real)
    with caplog.at_level("INFO"):
        resumed = prepare(config(f"file:{corpus}", out))
    assert "3 of" in caplog.text and "already done" in caplog.text
    assert [s.sha256 for s in resumed.shards] == [s.sha256 for s in reference.shards]
    assert not out.with_name("out.partial").exists()


def test_rerun_with_other_settings_overwrites_cleanly(tmp_path):
    corpus, out = make_corpus(tmp_path / "c"), tmp_path / "out"
    prepare(config(f"file:{corpus}", out, shard_rows=16))
    m = prepare(config(f"file:{corpus}", out, shard_rows=1000))
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(s.path for s in m.shards)
    assert read_manifest(str(out)).shards == m.shards


def test_storyworld_local_engine(tmp_path):
    start = time.perf_counter()
    m = prepare(config("storyworld", tmp_path / "sw", num_docs=400, val_fraction=0.05, seq_len=64))
    assert m.num_documents == 400 and m.source == "storyworld(num_docs=400, seed=0)"
    from cola_platform.data.manifest import is_validation

    expected = sum(is_validation(i, 0.05) for i in range(400))
    assert m.split["documents"] == {"train": 400 - expected, "validation": expected} and 15 <= expected <= 25
    assert time.perf_counter() - start < 60
