"""Read units: independent pieces of a source that one task reads, tokenizes, packs and writes.

A unit is a storyworld document-index range, a group of small files, a byte range of a large
JSONL file, a row-group range of a large Parquet file, or a row range of a cached `datasets`
split. Units are JSON-serialisable so they can travel as Ray Data rows and be recorded in the
staging plan (for resume).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Iterator

from cola_platform.data.readers import Doc, ReadStats, doc_key, emit_text, read_jsonl, read_parquet, read_txt
from cola_platform.data.sources import FileEntry, Source
from cola_platform.errors import UserError


@dataclass
class FileSlice:
    """A file, or part of one."""

    path: str
    rel: str
    fmt: str
    size: int
    start: int = 0
    """JSONL: first byte; Parquet: first row group."""
    end: int = -1
    """JSONL: end byte (-1: EOF); Parquet: end row group (-1: all)."""
    limit: int = 0
    """Records to take (0: all)."""
    weight: int = 0
    """Bytes this slice covers (0: the whole file)."""


@dataclass
class Unit:
    """One independent piece of work."""

    index: int
    kind: str
    """`storyworld`, `files` or `hf` (rows of a cached `datasets` split)."""
    start: int = 0
    count: int = 0
    slices: list[FileSlice] = field(default_factory=list)
    weight: int = 0
    """Bytes (files) or documents (storyworld, hf rows): for progress and ETA."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Unit:
        d = json.loads(text)
        d["slices"] = [FileSlice(**s) for s in d.get("slices", [])]
        return cls(**d)


def plan_units(
    source: Source, files: list[FileEntry], target_bytes: int, docs_per_unit: int, min_units: int = 1
) -> list[Unit]:
    """Split a resolved source into units of about `target_bytes` (files) or `docs_per_unit` documents.

    `min_units` asks for at least that many units (for parallelism) when the data allows.
    """
    if source.kind == "storyworld":
        return _ranges("storyworld", source.num_docs, docs_per_unit, min_units)
    if source.kind == "hf" and not files:
        from cola_platform.data import hf_cache

        rows = hf_cache.num_rows(hf_cache.HFName.parse(source.uri))
        rows = min(rows, source.num_docs) if source.num_docs else rows
        return _ranges("hf", rows, docs_per_unit, min_units)
    total = sum(f.size for f in files)
    target = max(1, min(target_bytes, -(-total // max(1, min_units))))
    slices = [s for f in files for s in _split_file(source, f, target)]
    units: list[Unit] = []
    group: list[FileSlice] = []
    for s in slices:
        group.append(s)
        if sum(_slice_bytes(x) for x in group) >= target:
            units.append(Unit(len(units), "files", slices=group, weight=sum(_slice_bytes(x) for x in group)))
            group = []
    if group:
        units.append(Unit(len(units), "files", slices=group, weight=sum(_slice_bytes(x) for x in group)))
    return units


def _ranges(kind: str, total: int, per_unit: int, min_units: int) -> list[Unit]:
    per = max(1, min(per_unit, -(-total // max(1, min_units))))
    return [
        Unit(i, kind, start=a, count=min(per, total - a), weight=min(per, total - a))
        for i, a in enumerate(range(0, total, per))
    ]


def _slice_bytes(s: FileSlice) -> int:
    if s.weight:
        return s.weight
    if s.fmt == "jsonl":
        return (s.end if s.end >= 0 else s.size) - s.start
    return s.size


def _split_file(source: Source, f: FileEntry, target: int) -> list[FileSlice]:
    """Byte ranges of a large JSONL file, row-group ranges of a large Parquet file, else the file."""
    base = FileSlice(f.path, f.rel, f.fmt, f.size, end=f.end, limit=f.limit)
    if f.fmt == "jsonl":
        end = f.end if f.end >= 0 else f.size
        if end <= target:
            return [base]
        bounds = list(range(0, end, target)) + [end]
        return [FileSlice(f.path, f.rel, f.fmt, f.size, start=a, end=b) for a, b in zip(bounds[:-1], bounds[1:])]
    if f.fmt == "parquet" and f.size > target and not f.limit:
        import pyarrow.parquet as pq

        with source.filesystem().open(f.path, "rb") as fh:
            meta = pq.ParquetFile(fh).metadata
        out, first, acc = [], 0, 0
        scale = f.size / max(1, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)))
        for i in range(meta.num_row_groups):
            acc += int(meta.row_group(i).total_byte_size * scale)
            if acc >= target or i == meta.num_row_groups - 1:
                out.append(FileSlice(f.path, f.rel, f.fmt, f.size, start=first, end=i + 1, weight=max(1, acc)))
                first, acc = i + 1, 0
        return out
    return [base]


def iter_unit_docs(unit: Unit, source: Source, stats: ReadStats | None = None) -> Iterator[Doc]:
    """The documents (or chunks of streamed documents) of one unit, in order."""
    stats = stats if stats is not None else ReadStats()
    if unit.kind == "storyworld":
        from cola_core.data.storyworld import iter_texts

        for i, text in enumerate(iter_texts(unit.count, seed=source.seed, start=unit.start, mix=source.corpus_mix())):
            stats.bytes_read += len(text)
            yield from emit_text(unit.start + i, text, stats)
        return
    if unit.kind == "hf":
        from cola_platform.data import hf_cache

        hf = hf_cache.HFName.parse(source.uri)
        for row, value in hf_cache.iter_rows(hf, unit.start, unit.start + unit.count, source.text_field):
            yield from emit_text(doc_key(f"hf:{hf.name}:{hf.split}", row), "" if value is None else str(value), stats)
        return
    fs, opts = source.filesystem(), source.options()
    for s in unit.slices:
        name = f"s3://{s.path}" if source.kind == "s3" else s.path
        try:
            if s.fmt == "txt" and s.size <= opts.max_doc_bytes:  # one GET, no HEAD
                yield from read_txt(io.BytesIO(fs.cat_file(s.path)), name, s.rel, s.size, opts, stats)
                continue
            with fs.open(s.path, "rb", **({"size": s.size} if source.kind == "s3" else {})) as f:
                if s.fmt == "txt":
                    yield from read_txt(f, name, s.rel, s.size, opts, stats)
                elif s.fmt == "jsonl":
                    yield from read_jsonl(f, name, s.rel, s.start, s.end, opts, stats, limit=s.limit)
                else:
                    rgs = None if s.end < 0 else (s.start, s.end)
                    yield from read_parquet(f, name, s.rel, rgs, opts, stats, limit=s.limit)
        except FileNotFoundError:
            raise UserError(f"source file {name} disappeared while reading") from None
