"""In-process preparation of an in-memory iterable of texts -> tokenizer -> packed shards -> manifest.

Tests and tiny corpora use this; `jobs.prepare_data` uses `cola_platform.data.prepare` (sources,
streaming, Ray Data or `--engine local`).
Shards are written first and the manifest last, into a temporary directory renamed into place, so
an interrupted run leaves no manifest and re-running overwrites cleanly.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from cola_core.data.packing import SequencePacker
from cola_core.data.tokenizer import TextTokenizer, load_tokenizer, train_bpe
from cola_core.utils.io import replace_dir
from cola_platform.data.manifest import MANIFEST, SPLIT_RULE, Manifest, ShardInfo, is_validation
from cola_platform.data.shards import write_shard
from cola_platform.errors import UserError

log = logging.getLogger(__name__)
__all__ = ["PrepareSpec", "prepare_texts", "is_validation"]


@dataclass
class PrepareSpec:
    """What to prepare."""

    out: str
    seq_len: int
    vocab_size: int
    source: str
    val_fraction: float = 0.02
    """Fraction of documents (chosen by index) held out for validation."""
    shard_rows: int = 8192
    tokenizer_path: str = ""
    tokenizer_sample_docs: int = 20000
    """Documents used to train the BPE when no tokenizer is given."""


def prepare_texts(spec: PrepareSpec, texts: Iterable[str], sample_texts: Iterable[str] | None = None) -> Manifest:
    """Tokenize and pack `texts` into a local data directory `spec.out`; returns the manifest."""
    start = time.perf_counter()
    tok = load_tokenizer(spec.tokenizer_path) if spec.tokenizer_path else None
    texts = iter(texts)
    if tok is None:
        if sample_texts is None:  # train on the head of the stream, then replay it
            head = list(itertools.islice(texts, spec.tokenizer_sample_docs))
            texts, sample_texts = itertools.chain(head, texts), head
        tok = train_bpe(sample_texts, spec.vocab_size)
    out = Path(spec.out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "tokenizer.json").write_text(tok.to_json())
    shards, n_docs = _write_shards(spec, tok, texts, str(tmp))
    if not any(s.split == "train" for s in shards):
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(
            f"{spec.source} gave too little text ({n_docs} documents) for one {spec.seq_len}-token training sequence"
        )
    manifest = Manifest(
        seq_len=spec.seq_len,
        vocab_size=tok.vocab_size,
        tokenizer_hash=tok.fingerprint(),
        special_tokens={"eos": tok.eos_id, "pad": tok.pad_id, "mask": tok.mask_id},
        source=spec.source,
        shards=shards,
        num_documents=n_docs,
        stats={"seconds": round(time.perf_counter() - start, 2), "engine": "texts"},
        split={"val_fraction": spec.val_fraction, "rule": SPLIT_RULE},
    )
    (tmp / MANIFEST).write_text(manifest.to_json())
    replace_dir(tmp, out)
    log.info(
        "prepared %d sequences (%d tokens) from %d documents into %s",
        manifest.num_sequences,
        manifest.num_tokens,
        n_docs,
        out,
    )
    return manifest


def _write_shards(spec: PrepareSpec, tok: TextTokenizer, texts: Iterable[str], out: str):
    packers = {s: SequencePacker(spec.seq_len, tok.eos_id) for s in ("train", "validation")}
    pending: dict[str, list[list[int]]] = {"train": [], "validation": []}
    shards: list[ShardInfo] = []
    n_docs = 0

    def flush(split: str, final: bool = False) -> None:
        while len(pending[split]) >= spec.shard_rows or (final and pending[split]):
            rows, pending[split] = pending[split][: spec.shard_rows], pending[split][spec.shard_rows :]
            idx = sum(1 for s in shards if s.split == split)
            shards.append(write_shard(out, f"{split}-{idx:05d}.parquet", split, np.asarray(rows, dtype=np.int32)))

    for batch in _batched(texts, 512):
        for ids in tok.encode_batch(batch):
            split = "validation" if is_validation(n_docs, spec.val_fraction) else "train"
            pending[split].extend(packers[split].add(ids))
            n_docs += 1
        for split in pending:
            flush(split)
    for split in pending:
        flush(split, final=True)
    return shards, n_docs


def _batched(it: Iterable[str], n: int):
    it = iter(it)
    while chunk := list(itertools.islice(it, n)):
        yield chunk
