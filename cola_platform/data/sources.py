"""Text sources named by one `--source` URI, and their split into independent read units.

    storyworld                  the built-in generator (needs --num-docs)
    file:PATH | PATH            a .txt/.jsonl/.parquet file, a directory (recursive) or a glob
    s3://bucket/prefix          the same formats on any S3-compatible endpoint (s3fs; AWS_* env vars)
    hf:NAME[:SPLIT]             a Hugging Face dataset already in the local cache (no downloads)

A source is resolved once on the driver (`resolve_files`: lists files with sizes and fails early
on a missing path, an empty file or no matching files), then planned into `Unit`s
(`cola_platform.data.units.plan_units`): storyworld index ranges, groups of small files, byte
ranges of a large JSONL file, row-group ranges of a large Parquet file. Every unit reads
independently, so Ray tasks process them in parallel and their union is the whole source.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import fsspec

from cola_platform.data.readers import FORMATS, ReadOptions
from cola_platform.errors import UserError

if TYPE_CHECKING:
    from cola_core.data.storyworld import CorpusMix

log = logging.getLogger(__name__)

TEXT_SUFFIXES = tuple(FORMATS)


@dataclass(frozen=True)
class Source:
    """A parsed `--source` value plus how to read it."""

    uri: str
    num_docs: int = 0
    """Documents to take (storyworld: to generate; 0 = all for files)."""
    seed: int = 0
    text_field: str = "text"
    decode_errors: str = "strict"
    max_doc_bytes: int = 64 << 20
    """Memory budget for one document (larger .txt documents are streamed)."""
    s3_endpoint: str = ""
    """S3 endpoint URL; empty: AWS_ENDPOINT_URL(_S3) from the environment."""
    qa_share: float | None = None
    """storyworld: share of question-and-answer documents (None: the corpus default)."""
    mc_share: float | None = None
    """storyworld: share of multiple-choice documents (None: the corpus default)."""

    @property
    def kind(self) -> str:
        """`storyworld`, `hf`, `s3` or `file`."""
        if self.uri == "storyworld":
            return "storyworld"
        if self.uri.startswith("hf:"):
            return "hf"
        if self.uri.startswith("s3://"):
            return "s3"
        if "://" in self.uri and not self.uri.startswith("file://"):
            raise UserError(
                f"--source {self.uri!r}: unsupported scheme; use storyworld, file:PATH, s3://bucket/prefix or hf:NAME"
            )
        return "file"

    def describe(self) -> str:
        """The manifest's `source` string."""
        if self.uri == "storyworld":
            shares = "".join(
                f", {k}={v:g}" for k, v in (("qa_share", self.qa_share), ("mc_share", self.mc_share)) if v is not None
            )
            return f"storyworld(num_docs={self.num_docs}, seed={self.seed}{shares})"
        return self.uri + (f" (first {self.num_docs} documents)" if self.num_docs else "")

    def corpus_mix(self) -> CorpusMix:
        """storyworld: the document mix (the corpus defaults where no share is given)."""
        from cola_core.data.storyworld import CorpusMix

        defaults = CorpusMix()
        try:
            return CorpusMix(
                qa_share=defaults.qa_share if self.qa_share is None else self.qa_share,
                mc_share=defaults.mc_share if self.mc_share is None else self.mc_share,
            )
        except ValueError as err:
            raise UserError(f"--qa-share / --mc-share: {err}") from None

    def options(self) -> ReadOptions:
        """Reader options of this source."""
        return ReadOptions(
            text_field=self.text_field, decode_errors=self.decode_errors, max_doc_bytes=self.max_doc_bytes
        )

    def filesystem(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem the source's files live on."""
        if self.kind == "s3":
            from cola_platform.data.fs import s3_filesystem

            return s3_filesystem(self.s3_endpoint)
        return fsspec.filesystem("file")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def texts(self) -> Iterator[str]:
        """Every document's text in source order (streamed documents are joined; small sources only)."""
        from cola_platform.data.units import iter_unit_docs, plan_units

        parts: list[str] = []
        for unit in plan_units(self, resolve_files(self), target_bytes=1 << 62, docs_per_unit=1 << 62, min_units=1):
            for doc in iter_unit_docs(unit, self):
                parts.append(doc.text)
                if doc.final:
                    yield "".join(parts)
                    parts = []


@dataclass(frozen=True)
class FileEntry:
    """One input file."""

    path: str
    """Path on the source's filesystem (s3: `bucket/key`)."""
    rel: str
    """Path relative to the source root: the document keys (and so the split) depend only on it."""
    fmt: str
    size: int
    limit: int = 0
    """Records to take from this file (0: all), from --num-docs."""
    end: int = -1
    """JSONL: byte offset after the last record to take (-1: end of file)."""


def _fmt(path: str) -> str | None:
    return FORMATS.get(os.path.splitext(path)[1].lower())


def resolve_files(source: Source) -> list[FileEntry]:
    """The source's input files (empty for storyworld and `datasets`-library sources), checked for bad input."""
    if source.kind == "storyworld":
        if source.num_docs <= 0:
            raise UserError("--source storyworld needs --num-docs N (N > 0)")
        return []
    if source.kind == "hf":
        from cola_platform.data import hf_cache

        hf = hf_cache.HFName.parse(source.uri)
        found = hf_cache.split_files(hf)
        if not found and not hf_cache.datasets_available():
            raise hf_cache.not_cached_error(hf)
        files = [FileEntry(str(p), r, _fmt(str(p)) or "txt", p.stat().st_size) for p, r in found]
    elif source.kind == "s3":
        files = _list_s3(source)
    else:
        files = _list_local(source.uri)
    files = _check_not_empty(source.uri, files)
    return _truncate(source, files) if source.num_docs and files else files


def _list_local(uri: str) -> list[FileEntry]:
    path = uri[len("file:") :] if uri.startswith("file:") else uri
    path = path[2:] if path.startswith("//") else path
    path = os.path.expanduser(path)
    if any(ch in path for ch in "*?["):
        root = os.path.dirname(path.split("*")[0].split("?")[0].split("[")[0]) or "."
        paths = sorted(p for p in globlib.glob(path, recursive=True) if os.path.isfile(p))
    elif os.path.isdir(path):
        root = path
        paths = sorted(str(p) for p in Path(path).rglob("*") if p.is_file() and not p.name.startswith("."))
    elif os.path.isfile(path):
        root, paths = os.path.dirname(path), [path]
        if _fmt(path) is None:
            raise UserError(f"source file {path} is not .txt, .jsonl or .parquet")
    else:
        raise UserError(f"source path {path} does not exist")
    entries = [
        FileEntry(os.path.abspath(p), os.path.relpath(p, root), _fmt(p) or "", os.path.getsize(p))
        for p in paths
        if _fmt(p)
    ]
    if not entries:
        raise UserError(f"no {'/'.join(TEXT_SUFFIXES)} files under {path}")
    _warn_skipped(len(paths) - len(entries), path)
    return entries


def _warn_skipped(skipped: int, where: str) -> None:
    if skipped:
        log.warning("%d file(s) under %s skipped: not %s", skipped, where, "/".join(TEXT_SUFFIXES))


def _list_s3(source: Source) -> list[FileEntry]:
    fs, uri = source.filesystem(), source.uri
    path = uri[len("s3://") :].rstrip("/")
    try:
        fs.info(path.split("/", 1)[0])  # fails fast on a bad endpoint or a missing bucket
        if any(ch in path for ch in "*?["):
            root = path.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0]
            found = fs.glob(path, detail=True)
        elif fs.isfile(path):
            root, found = path.rsplit("/", 1)[0], {path: fs.info(path)}
        else:
            root, found = path, fs.find(path, detail=True)
    except (FileNotFoundError, PermissionError) as err:
        raise UserError(f"source {uri}: {type(err).__name__}: {err}") from None
    except Exception as err:  # unreachable endpoint, bad credentials ...
        endpoint = (
            source.s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
        )
        raise UserError(
            f"cannot reach S3 endpoint {endpoint} to list {uri} ({type(err).__name__}: {err}); "
            "check --s3-endpoint / AWS_ENDPOINT_URL and credentials"
        ) from None
    files = {p: info for p, info in found.items() if info.get("type", "file") != "directory"}
    entries = [
        FileEntry(p, p[len(root) :].lstrip("/"), _fmt(p) or "", int(info.get("size") or 0))
        for p, info in sorted(files.items())
        if _fmt(p)
    ]
    if not entries:
        raise UserError(f"no {'/'.join(TEXT_SUFFIXES)} files under {uri}" if found else f"source {uri} does not exist")
    _warn_skipped(len(files) - len(entries), uri)
    return entries


def _check_not_empty(uri: str, files: list[FileEntry]) -> list[FileEntry]:
    if not files:
        return files
    if len(files) == 1 and files[0].size == 0:
        raise UserError(f"source file {files[0].path} is empty")
    if all(f.size == 0 for f in files):
        raise UserError(f"all {len(files)} source files under {uri} are empty")
    return [f for f in files if f.size > 0]


def _truncate(source: Source, files: list[FileEntry]) -> list[FileEntry]:
    """Keep the files holding the first `num_docs` records; cut the last one (JSONL: at a byte offset)."""
    fs, left, out = source.filesystem(), source.num_docs, []
    for f in files:
        if left <= 0:
            break
        if f.fmt == "txt":
            out.append(f)
            left -= 1
        elif f.fmt == "parquet":
            import pyarrow.parquet as pq

            with fs.open(f.path, "rb") as fh:
                rows = pq.ParquetFile(fh).metadata.num_rows
            out.append(replace(f, limit=left) if rows > left else f)
            left -= rows
        else:
            end, records = _jsonl_cut(fs, f.path, left)
            out.append(replace(f, end=end) if end >= 0 else f)
            left -= records
    return out


def _jsonl_cut(fs: fsspec.AbstractFileSystem, path: str, n: int) -> tuple[int, int]:
    """(byte offset just after the n-th non-blank line or -1, non-blank lines counted)."""
    count, pos = 0, 0
    with fs.open(path, "rb") as fh:
        for line in fh:
            pos += len(line)
            if line.strip():
                count += 1
                if count == n:
                    return pos, count
    return -1, count
