"""Processing one read unit: read -> clean -> tokenize (in batches) -> pack -> write Parquet shards.

Both engines run exactly this per unit (the local engine in a loop, the Ray engine as a Ray Data
`map` task per unit), so they produce identical shards. Memory per unit is bounded by one
tokenize batch, the packer's carry-over and one shard of rows per split.

Packing is per unit and split: each document's ids plus EOS are concatenated and cut into rows of
exactly `seq_len`; the last partial row of each unit and split (at most `seq_len - 1` tokens) is
dropped and counted as `tail_tokens_dropped`. Units hold about one shard of tokens, so the loss
is a fraction of about `seq_len / (shard_rows * seq_len)` of the data.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from cola_core.data.tokenizer import TextTokenizer, tokenizer_from_json
from cola_platform import storage
from cola_platform.data.fs import filesystem
from cola_platform.data.manifest import SPLITS, ShardInfo, is_validation
from cola_platform.data.readers import CHUNK_BYTES, Doc, ReadStats, pieces
from cola_platform.data.shards import write_shard
from cola_platform.data.sources import Source
from cola_platform.data.units import Unit, iter_unit_docs
from cola_platform.errors import UserError

log = logging.getLogger(__name__)
PART_PREFIX = "_part-"
DONE_PREFIX = "_done-"


@dataclass(frozen=True)
class WorkSpec:
    """What every unit task needs besides the unit and the source."""

    staging: str
    """Staging data directory or s3:// prefix that shards are written into."""
    seq_len: int
    shard_rows: int
    val_fraction: float
    batch_docs: int = 256
    batch_bytes: int = CHUNK_BYTES
    """Text tokenized at once (bounds the token-id lists); longer documents are tokenized in pieces."""


@dataclass
class UnitResult:
    """What one unit produced: its shards (validation leftovers as `_part-` files) and counters."""

    unit: int
    shards: list[ShardInfo]
    stats: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> UnitResult:
        d = json.loads(text)
        d["shards"] = [ShardInfo(**s) for s in d["shards"]]
        return cls(**d)


class RowPacker:
    """Concatenates documents (+ EOS) and cuts rows of exactly `seq_len` ids."""

    def __init__(self, seq_len: int, eos_id: int):
        self.seq_len, self.eos_id = seq_len, eos_id
        self._parts: list[np.ndarray] = []
        self._count = 0

    def add(self, ids: list[int], eos: bool) -> None:
        """Append a document's (or chunk's) ids, then EOS when the document ends."""
        arr = np.asarray(ids + [self.eos_id] if eos else ids, dtype=np.int32)
        self._parts.append(arr)
        self._count += len(arr)

    def take_rows(self) -> np.ndarray:
        """All complete rows so far: (n, seq_len) int32; the remainder stays."""
        n = self._count // self.seq_len
        if n == 0:
            return np.empty((0, self.seq_len), dtype=np.int32)
        flat = np.concatenate(self._parts)
        rows, rest = flat[: n * self.seq_len].reshape(n, self.seq_len), flat[n * self.seq_len :]
        self._parts, self._count = [rest], len(rest)
        return rows  # (n, L)

    @property
    def leftover(self) -> int:
        """Ids waiting for the next row (dropped at the end of the unit)."""
        return self._count


class ShardSink:
    """Buffers rows of one split and writes full shards of `shard_rows` rows."""

    def __init__(self, spec: WorkSpec, unit: int, split: str):
        self.spec, self.unit, self.split = spec, unit, split
        self._rows: list[np.ndarray] = []
        self._count = 0
        self.shards: list[ShardInfo] = []

    def add(self, rows: np.ndarray) -> None:
        if len(rows):
            self._rows.append(rows)
            self._count += len(rows)
        while self._count >= self.spec.shard_rows:
            block = np.concatenate(self._rows)
            self._write(block[: self.spec.shard_rows], final=False)
            rest = block[self.spec.shard_rows :]
            self._rows, self._count = ([rest] if len(rest) else []), len(rest)

    def close(self) -> None:
        """Write what is left: a last train shard, or a validation part to be compacted."""
        if self._count:
            self._write(np.concatenate(self._rows), final=True)
        self._rows, self._count = [], 0

    def _write(self, rows: np.ndarray, final: bool) -> None:
        k = len(self.shards)
        if final and self.split != "train":
            name = f"{PART_PREFIX}{self.split}-{self.unit:05d}.parquet"
        else:
            name = f"{self.split}-{self.unit:05d}-{k:03d}.parquet"
        self.shards.append(write_shard(self.spec.staging, name, self.split, rows))


_TOKENIZERS: dict[str, TextTokenizer] = {}


def cached_tokenizer(tokenizer_json: str) -> TextTokenizer:
    """Build a tokenizer once per process."""
    key = str(hash(tokenizer_json))
    if key not in _TOKENIZERS:
        _TOKENIZERS.clear()
        _TOKENIZERS[key] = tokenizer_from_json(tokenizer_json)
    return _TOKENIZERS[key]


def doc_batches(docs: Iterable[Doc], max_docs: int, max_bytes: int) -> Iterator[list[Doc]]:
    """Group documents into tokenize batches of at most `max_docs` documents / about `max_bytes` bytes."""
    batch: list[Doc] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += len(doc.text)
        if len(batch) >= max_docs or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def process_unit(unit: Unit, source: Source, tok: TextTokenizer, spec: WorkSpec) -> UnitResult:
    """Read, tokenize, pack and write one unit; writes a done marker last and returns the result."""
    start = time.perf_counter()
    stats = ReadStats()
    packers = {s: RowPacker(spec.seq_len, tok.eos_id) for s in SPLITS}
    sinks = {s: ShardSink(spec, unit.index, s) for s in SPLITS}
    counts: dict[str, int] = {"tokens": 0, "train_documents": 0, "validation_documents": 0}
    docs = (p for d in iter_unit_docs(unit, source, stats) for p in pieces(d, spec.batch_bytes))
    for batch in doc_batches(docs, spec.batch_docs, spec.batch_bytes):
        for doc, ids in zip(batch, tok.encode_batch([d.text for d in batch])):
            split = "validation" if is_validation(doc.key, spec.val_fraction) else "train"
            packers[split].add(ids, eos=doc.final)
            counts["tokens"] += len(ids) + (1 if doc.final else 0)
            counts[f"{split}_documents"] += 1 if doc.final else 0
        for s in SPLITS:
            sinks[s].add(packers[s].take_rows())
    for s in SPLITS:
        sinks[s].close()
    counts["tail_tokens_dropped"] = sum(p.leftover for p in packers.values())
    result = UnitResult(
        unit.index,
        sinks["train"].shards + sinks["validation"].shards,
        {**stats.to_dict(), **counts},
        round(time.perf_counter() - start, 3),
    )
    fs, path = filesystem(storage.join(spec.staging, f"{DONE_PREFIX}{unit.index:05d}.json"))
    with fs.open(path, "w") as f:  # no mkdir: a unit still running after its staging was wiped fails here
        f.write(result.to_json())
    return result


@dataclass
class UnitOutcome:
    """What the Ray Data task of one unit hands back: its result, or the one-line reason its input is bad."""

    result: UnitResult | None = None
    error: str = ""


def unit_row_fn(row: dict[str, Any], source: Source, tokenizer_json: str, spec: WorkSpec) -> dict[str, UnitOutcome]:
    """Ray Data `map` UDF: a `{"unit": Unit}` row -> `{"outcome": UnitOutcome}`.

    Bad input (`UserError`: undecodable text, an unreadable file) is deterministic, so it comes back as
    the outcome's `error` instead of an exception Ray Data would retry and wrap in tracebacks; any other
    exception is left to Ray Data to report.
    """
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one Ray CPU per task: no extra Rust threads
    try:
        return {
            "outcome": UnitOutcome(result=process_unit(row["unit"], source, cached_tokenizer(tokenizer_json), spec))
        }
    except UserError as err:
        return {"outcome": UnitOutcome(error=str(err))}
