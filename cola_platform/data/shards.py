"""Reading and writing packed Parquet shards (a `tokens` column of int32 lists)."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cola_platform import storage
from cola_platform.data.fs import filesystem
from cola_platform.data.manifest import Manifest, ShardInfo, sha256_bytes
from cola_platform.errors import UserError

SCHEMA = pa.schema([pa.field("tokens", pa.list_(pa.int32()))])


def shard_bytes(sequences: np.ndarray) -> bytes:
    """(rows, seq_len) int array -> Parquet file bytes."""
    flat = pa.array(sequences.reshape(-1).astype(np.int32))
    offsets = pa.array(np.arange(0, sequences.size + 1, sequences.shape[1], dtype=np.int32))
    table = pa.table({"tokens": pa.ListArray.from_arrays(offsets, flat)}, schema=SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def write_shard(data_uri: str, rel_path: str, split: str, sequences: np.ndarray) -> ShardInfo:
    """Write one shard and return its manifest entry (with checksum)."""
    payload = shard_bytes(sequences)
    fs, path = filesystem(storage.join(data_uri, rel_path))
    with fs.open(path, "wb") as f:
        f.write(payload)
    return ShardInfo(
        path=rel_path,
        split=split,
        rows=int(sequences.shape[0]),
        tokens=int(sequences.size),
        sha256=sha256_bytes(payload),
    )


def read_shard(data_uri: str, shard: ShardInfo, seq_len: int, verify: bool = True) -> np.ndarray:
    """Load one shard as a (rows, seq_len) int32 array, checking checksum and shape."""
    uri = storage.join(data_uri, shard.path)
    fs, path = filesystem(uri)
    try:
        payload = fs.cat_file(path)
    except FileNotFoundError:
        raise UserError(f"shard {uri} listed in the manifest is missing; re-run jobs.prepare_data") from None
    if verify and sha256_bytes(payload) != shard.sha256:
        raise UserError(
            f"shard {uri} does not match its manifest checksum (corrupt or modified); re-run jobs.prepare_data"
        )
    try:
        column = pq.read_table(io.BytesIO(payload)).column("tokens").combine_chunks()
    except (pa.ArrowException, KeyError, OSError) as err:
        raise UserError(f"shard {uri} is not a readable token shard ({err})") from None
    values = column.values.to_numpy(zero_copy_only=False)
    if len(values) != shard.rows * seq_len:
        raise UserError(f"shard {uri} has {len(values)} tokens, expected {shard.rows} x {seq_len}")
    return values.reshape(shard.rows, seq_len).astype(np.int32)  # (rows, L)


def read_split(data_uri: str, manifest: Manifest, split: str) -> np.ndarray:
    """All sequences of a split, in manifest order: (rows, seq_len) int32."""
    shards = manifest.split_shards(split)
    if not shards:
        raise UserError(f"{data_uri} has no {split!r} shards; re-run jobs.prepare_data with a validation fraction > 0")
    return np.concatenate([read_shard(data_uri, s, manifest.seq_len) for s in shards])
