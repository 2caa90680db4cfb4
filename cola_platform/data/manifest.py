"""`manifest.json`: what a prepared data directory holds. Written last, so its presence means complete."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cola_platform import storage
from cola_platform.errors import UserError

MANIFEST = "manifest.json"
FORMAT = "cola-packed-v1"
SPLITS = ("train", "validation")
SPLIT_RULE = "fibonacci-hash(document key) < val_fraction"
"""How documents are assigned to validation (`is_validation`); recorded in the manifest."""


def is_validation(doc_index: int, val_fraction: float) -> bool:
    """Deterministic document split: doc key `doc_index` goes to validation for a `val_fraction` share of keys.

    Fibonacci hashing in exact 64-bit integer arithmetic, so consecutive indices (storyworld) and
    hashed 63-bit keys (file records) are both spread evenly.
    """
    return val_fraction > 0 and ((doc_index * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) < val_fraction * 2.0**64


@dataclass
class ShardInfo:
    """One Parquet shard: a `tokens` column of int32 lists, each exactly `seq_len` long."""

    path: str
    """Relative to the data directory."""
    split: str
    rows: int
    tokens: int
    sha256: str


@dataclass
class Manifest:
    """Everything training needs to trust a prepared data directory."""

    seq_len: int
    vocab_size: int
    tokenizer_hash: str
    special_tokens: dict[str, int]
    source: str
    shards: list[ShardInfo]
    num_documents: int = 0
    tokenizer: str = "tokenizer.json"
    format: str = FORMAT
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    stats: dict[str, Any] = field(default_factory=dict)
    """Free-form numbers from preparation (decode errors replaced, dropped documents, seconds...)."""
    split: dict[str, Any] = field(default_factory=dict)
    """The train/validation split: `val_fraction`, `rule` and documents per split."""

    def split_shards(self, split: str) -> list[ShardInfo]:
        """Shards of one split."""
        return [s for s in self.shards if s.split == split]

    def split_rows(self, split: str) -> int:
        """Sequences in one split."""
        return sum(s.rows for s in self.split_shards(split))

    @property
    def num_sequences(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def num_tokens(self) -> int:
        return sum(s.tokens for s in self.shards)

    def to_json(self) -> str:
        """Manifest JSON, including derived totals and per-split counts for readers."""
        d = asdict(self)
        d["num_sequences"], d["num_tokens"] = self.num_sequences, self.num_tokens
        d["splits"] = {
            s: {"num_sequences": self.split_rows(s), "shards": [x.path for x in self.split_shards(s)]} for s in SPLITS
        }
        return json.dumps(d, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> Manifest:
        """Parse, with one-line errors for malformed manifests."""
        try:
            d = json.loads(text)
            if d.get("format") != FORMAT:
                raise UserError(f"{where}: unsupported format {d.get('format')!r} (expected {FORMAT!r})")
            shards = [ShardInfo(**s) for s in d["shards"]]
            keys = (
                "seq_len",
                "vocab_size",
                "tokenizer_hash",
                "special_tokens",
                "source",
                "num_documents",
                "tokenizer",
                "format",
                "created",
                "stats",
                "split",
            )
            return cls(shards=shards, **{k: d[k] for k in keys if k in d})
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise UserError(
                f"{where} is not a valid manifest ({type(err).__name__}: {err}); re-run jobs.prepare_data"
            ) from None


def read_manifest(data_uri: str) -> Manifest:
    """Load `<data_uri>/manifest.json` with clear errors for a missing directory or manifest."""
    fs, path = storage.filesystem(data_uri)
    try:
        exists = fs.exists(path)
    except Exception as err:  # unreachable endpoint, bad credentials, ...
        raise UserError(f"cannot reach {data_uri}: {type(err).__name__}: {err}") from None
    if not exists:
        raise UserError(f"data directory {data_uri} does not exist; create it with python -m jobs.prepare_data")
    uri = storage.join(data_uri, MANIFEST)
    if not fs.exists(storage.filesystem(uri)[1]):
        raise UserError(
            f"{uri} is missing: {data_uri} is not a prepared data directory (or its preparation did not finish)"
        )
    return Manifest.from_json(storage.read_text(uri), where=uri)


def read_tokenizer_text(data_uri: str, manifest: Manifest) -> str:
    """The data's tokenizer.json text, after checking it is the tokenizer the manifest names (its hash)."""
    from cola_core.data.tokenizer import tokenizer_hash

    uri = storage.join(data_uri, manifest.tokenizer)
    text = storage.read_text(uri)
    try:
        found = tokenizer_hash(text)
    except ValueError as err:
        raise UserError(f"{uri} is not a tokenizer file ({err}); re-run jobs.prepare_data") from None
    if manifest.tokenizer_hash and found != manifest.tokenizer_hash:
        raise UserError(
            f"{uri} is not the tokenizer its manifest was prepared with (hash {found[:12]}, manifest "
            f"{manifest.tokenizer_hash[:12]}); restore it or re-run jobs.prepare_data"
        )
    return text


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()
