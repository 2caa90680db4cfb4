"""Reading documents out of .txt, .jsonl and .parquet files (local or through any fsspec filesystem).

Every reader yields `Doc`s: cleaned text (newlines normalised to `\\n`, surrounding whitespace
stripped, empty documents dropped and counted) with a stable integer `key` that decides the
train/validation split. A `.txt` file is one document; one larger than the memory budget
(`ReadOptions.max_doc_bytes`) is streamed as a sequence of chunks (`Doc.final` is False on all but
the last), so no more than one chunk of it is ever in memory. JSONL records and Parquet rows are
loaded one at a time; a JSONL record larger than the budget is refused with a clear error.

Decode errors follow `ReadOptions.decode_errors`: `strict` raises a `UserError` naming the file
and the byte offset (a NUL byte counts as binary input too), `replace` substitutes U+FFFD and
counts the substitutions into `ReadStats.decode_replaced`.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import IO, Iterator

from cola_platform.errors import UserError

FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".parquet": "parquet"}
CHUNK_BYTES = 4 << 20
"""Largest piece of text tokenized at once: token ids take ~10x the text's memory as Python lists."""
DECODE_MODES = ("strict", "replace")


@dataclass(frozen=True)
class ReadOptions:
    """How to read and clean documents."""

    text_field: str = "text"
    """JSONL field / Parquet column holding the text."""
    decode_errors: str = "strict"
    """`strict`: non-UTF-8 input is an error; `replace`: substitute U+FFFD and count."""
    max_doc_bytes: int = 64 << 20
    """Memory budget for one document: larger .txt documents are streamed in chunks of this size."""


@dataclass
class ReadStats:
    """Counters from reading; summed over units into the manifest's `stats`."""

    documents: int = 0
    """Non-empty documents produced."""
    dropped_empty: int = 0
    decode_replaced: int = 0
    bytes_read: int = 0
    streamed_documents: int = 0
    """Documents larger than the memory budget, read and tokenized in chunks."""
    chunks: int = 0

    def add(self, other: ReadStats) -> None:
        """Accumulate another counter set into this one."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Doc:
    """One document, or one chunk of a streamed document."""

    key: int
    """Stable 63-bit id: decides the train/validation split."""
    text: str
    final: bool = True
    """False for every chunk of a streamed document but the last (no EOS after it)."""


def doc_key(file_id: str, locator: int) -> int:
    """Stable 63-bit key of the record at `locator` (byte offset / row) of a file, independent of where it is stored."""
    digest = hashlib.blake2b(f"{file_id}\0{locator}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def normalise_newlines(text: str) -> str:
    """`\\r\\n` and lone `\\r` become `\\n`."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


_REPLACED = [0]


def _count_replace(err: UnicodeError) -> tuple[str, int]:
    _REPLACED[0] += 1
    return "\ufffd", err.end  # type: ignore[attr-defined]


codecs.register_error("cola_count_replace", _count_replace)


class _Decoder:
    """Incremental UTF-8 decoding with the job's error policy; `replace` counts substitutions."""

    def __init__(self, name: str, errors: str, stats: ReadStats):
        if errors not in DECODE_MODES:
            raise UserError(f"--decode-errors must be one of {', '.join(DECODE_MODES)}, not {errors!r}")
        self.name, self.errors, self.stats = name, errors, stats
        self._inc = codecs.getincrementaldecoder("utf-8")("strict" if errors == "strict" else "cola_count_replace")

    def decode(self, data: bytes, offset: int, final: bool = True) -> str:
        """Decode `data`, which starts at byte `offset` of the file; a split character waits for the next call."""
        pending, before = len(self._inc.getstate()[0]), _REPLACED[0]
        try:
            text = self._inc.decode(data, final)
        except UnicodeDecodeError as err:
            raise UserError(
                f"{self.name}: not valid UTF-8 at byte {offset - pending + err.start} (binary file?); "
                "fix the file or pass --decode-errors replace"
            ) from None
        self.stats.decode_replaced += _REPLACED[0] - before
        if self.errors == "strict" and "\x00" in text:
            at = offset - pending + len(text[: text.index("\x00")].encode())
            raise UserError(
                f"{self.name}: NUL byte at byte {at}: looks like a binary file, not text; "
                "remove it from the source or pass --decode-errors replace"
            )
        return text


def emit_text(key: int, text: str, stats: ReadStats) -> Iterator[Doc]:
    """Clean one whole document; yield it unless it is empty (then count it as dropped)."""
    text = normalise_newlines(text).strip()
    if text:
        stats.documents += 1
        yield Doc(key, text)
    else:
        stats.dropped_empty += 1


def read_txt(f: IO[bytes], name: str, file_id: str, size: int, opts: ReadOptions, stats: ReadStats) -> Iterator[Doc]:
    """A whole .txt file as one document; streamed in chunks when larger than the memory budget."""
    if size > opts.max_doc_bytes:
        yield from _stream_txt(f, name, doc_key(file_id, 0), opts, stats)
        return
    data = f.read()
    stats.bytes_read += len(data)
    yield from emit_text(doc_key(file_id, 0), _Decoder(name, opts.decode_errors, stats).decode(data, 0), stats)


def _stream_txt(f: IO[bytes], name: str, key: int, opts: ReadOptions, stats: ReadStats) -> Iterator[Doc]:
    """One big document in chunks of at most min(`max_doc_bytes`, CHUNK_BYTES) bytes, cut at whitespace."""
    decoder = _Decoder(name, opts.decode_errors, stats)
    chunk = min(opts.max_doc_bytes, CHUNK_BYTES)
    offset, carry, started, emitted = 0, "", False, False
    stats.streamed_documents += 1
    while True:
        data = f.read(chunk)
        final = not data
        text = carry + decoder.decode(data, offset, final=final)
        offset += len(data)
        stats.bytes_read += len(data)
        if not final:
            text, carry = split_at_space(text)
            head = text.rstrip()  # trailing whitespace waits: it may end the document
            text, carry = head, (text[len(head) :] + carry)[-2 * chunk :]  # bounded even for endless whitespace
        text = normalise_newlines(text)
        if not started:
            text = text.lstrip()
            started = bool(text)
        if final:
            text = text.rstrip()
        if text or (final and emitted):
            stats.chunks += 1
            emitted = True
            yield Doc(key, text, final=final)
        if final:
            break
    if emitted:
        stats.documents += 1
    else:
        stats.dropped_empty += 1


class _LineReader:
    """Lines of a binary file with a length cap, over any file object (fsspec files lack readline(limit))."""

    def __init__(self, f: IO[bytes], block: int = 1 << 20):
        self.f, self.block, self.buf = f, block, bytearray()

    def _pop(self, n: int) -> bytes:
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def readline(self, limit: int) -> bytes:
        """The next line (with its newline), or its first `limit` bytes when it is longer; b"" at EOF."""
        while True:
            i = self.buf.find(b"\n")
            if 0 <= i < limit:
                return self._pop(i + 1)
            if len(self.buf) >= limit:
                return self._pop(limit)
            data = self.f.read(self.block)
            if not data:
                return self._pop(len(self.buf))
            self.buf += data

    def skip_line(self) -> int:
        """Discard up to and including the next newline, in bounded memory; returns bytes skipped."""
        skipped = 0
        while True:
            line = self.readline(self.block)
            skipped += len(line)
            if not line or line.endswith(b"\n"):
                return skipped


def split_at_space(text: str) -> tuple[str, str]:
    """(head, rest) cut before the last whitespace (so BPE pre-tokenization is unchanged), else before a `\r`."""
    cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
    if cut > 0 and text[cut - 1] == "\r":  # keep a \r\n pair together
        cut -= 1
    cut = cut if cut > 0 else len(text) - (1 if text.endswith("\r") else 0)
    return text[:cut], text[cut:]


def pieces(doc: Doc, limit: int = CHUNK_BYTES) -> Iterator[Doc]:
    """A document as pieces of at most about `limit` characters for tokenizing (EOS only after the last)."""
    if len(doc.text) <= limit:
        yield doc
        return
    rest = doc.text
    while len(rest) > limit:
        head, tail = split_at_space(rest[:limit])
        if not head:
            head, tail = rest[:limit], ""
        rest = tail + rest[limit:]
        yield Doc(doc.key, head, final=False)
    yield Doc(doc.key, rest, final=doc.final)


def read_jsonl(
    f: IO[bytes], name: str, file_id: str, start: int, end: int, opts: ReadOptions, stats: ReadStats, limit: int = 0
) -> Iterator[Doc]:
    """Records of a JSONL file that start in byte range [start, end) (end < 0: to the end of the file)."""
    lines = _LineReader(f, block=min(1 << 20, opts.max_doc_bytes + 1))
    pos, taken = 0, 0
    if start > 0:
        f.seek(start - 1)
        pos = start - 1 + lines.skip_line()  # the record in progress at `start` belongs to the previous range
    while end < 0 or pos < end:
        line = lines.readline(opts.max_doc_bytes + 1)
        if not line:
            break
        if len(line) > opts.max_doc_bytes and not line.endswith(b"\n"):
            raise UserError(
                f"{name}: the JSONL record at byte {pos} is larger than the memory budget "
                f"({opts.max_doc_bytes} bytes); raise --max-doc-mb or store such documents as .txt files"
            )
        stats.bytes_read += len(line)
        text = _Decoder(name, opts.decode_errors, stats).decode(line, pos)
        if text.strip():
            yield from emit_text(doc_key(file_id, pos), _json_text(text, name, pos, opts.text_field), stats)
            taken += 1
            if limit and taken >= limit:
                return
        pos += len(line)


def _json_text(line: str, name: str, pos: int, text_field: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{name}: bad JSON at byte {pos + err.pos}: {err.msg}") from None
    if not isinstance(record, dict) or text_field not in record:
        keys = ", ".join(sorted(record)) if isinstance(record, dict) else type(record).__name__
        raise UserError(
            f"{name}: the record at byte {pos} has no {text_field!r} field (it has: {keys}); "
            "pick the text field with --text-field"
        )
    value = record[text_field]
    return value if isinstance(value, str) else json.dumps(value)


def read_parquet(
    f: IO[bytes],
    name: str,
    file_id: str,
    row_groups: tuple[int, int] | None,
    opts: ReadOptions,
    stats: ReadStats,
    limit: int = 0,
) -> Iterator[Doc]:
    """Rows of a Parquet file's text column, in row groups [a, b) (None: all), a batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(f)
    except (pa.ArrowException, OSError) as err:
        raise UserError(f"{name}: not a readable Parquet file ({err})") from None
    names = pf.schema_arrow.names
    if opts.text_field not in names:
        raise UserError(
            f"{name}: no column {opts.text_field!r} (columns: {', '.join(names)}); pick one with --text-field"
        )
    first, last = row_groups or (0, pf.num_row_groups)
    row = sum(pf.metadata.row_group(i).num_rows for i in range(first))
    taken = 0
    for batch in pf.iter_batches(batch_size=256, row_groups=list(range(first, last)), columns=[opts.text_field]):
        for value in batch.column(0).to_pylist():
            if value is not None:
                text = (
                    value
                    if isinstance(value, str)
                    else _Decoder(name, opts.decode_errors, stats).decode(value, 0)
                    if isinstance(value, bytes)
                    else str(value)
                )
                stats.bytes_read += len(text)
                yield from emit_text(doc_key(file_id, row), text, stats)
            else:
                stats.dropped_empty += 1
            row, taken = row + 1, taken + 1
            if limit and taken >= limit:
                return
