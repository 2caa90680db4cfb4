"""Prepared shards as a Ray Dataset (for streaming ingest into Ray Train workers).

    manifest = read_manifest(data_uri)
    ds = read_split_dataset(data_uri, manifest, "train")   # `tokens`: int32 list of seq_len per row
    trainer = TorchTrainer(..., datasets={"train": ds})

Local paths are read directly; `s3://` through s3fs wrapped as a pyarrow filesystem
(`PyFileSystem(FSSpecHandler(fs))`), with the endpoint from the AWS_* environment variables.
Before reading, the shards' sha256 checksums are verified in parallel Ray tasks (`verify=True`),
so a corrupt or modified shard fails with the same one-line error as `read_split`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cola_platform import storage
from cola_platform.data.fs import filesystem
from cola_platform.data.manifest import Manifest, ShardInfo, sha256_bytes
from cola_platform.errors import UserError


def _pyarrow_fs(data_uri: str) -> Any:
    """A pyarrow filesystem for the data directory (None for local paths)."""
    if not data_uri.startswith("s3://"):
        return None
    import pyarrow.fs as pafs

    return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem(data_uri)[0]))


def _shard_paths(data_uri: str, shards: list[ShardInfo]) -> list[str]:
    return [filesystem(storage.join(data_uri, s.path))[1] for s in shards]


def _check_batch(batch: dict[str, np.ndarray], data_uri: str) -> dict[str, np.ndarray]:
    """Ray Data UDF: sha256 of each listed shard against the manifest; errors as strings."""
    errors = []
    for rel, expected in zip(batch["path"], batch["sha256"]):
        uri = storage.join(data_uri, str(rel))
        fs, path = filesystem(uri)
        try:
            payload = fs.cat_file(path)
        except FileNotFoundError:
            errors.append(f"shard {uri} listed in the manifest is missing; re-run jobs.prepare_data")
            continue
        ok = sha256_bytes(payload) == str(expected)
        errors.append("" if ok else f"shard {uri} does not match its manifest checksum (corrupt or modified); "
                                    "re-run jobs.prepare_data")
    return {"error": np.asarray(errors, dtype=object)}


def _concurrency(n_files: int) -> int | None:
    """At most one task per cluster CPU: 0-CPU tasks are otherwise unbounded (one new worker each)."""
    import ray

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return cpus if n_files > cpus else None


def verify_shards(data_uri: str, shards: list[ShardInfo], num_cpus: float = 0) -> None:
    """Check every shard's checksum in parallel Ray tasks; raise the first problem as a UserError."""
    import ray

    items = [{"path": s.path, "sha256": s.sha256} for s in shards]
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), 64))
    rows = ds.map_batches(_check_batch, batch_size=4, num_cpus=num_cpus, concurrency=_concurrency(len(items)),
                          fn_kwargs={"data_uri": data_uri}).take_all()
    problems = [r["error"] for r in rows if r["error"]]
    if problems:
        raise UserError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))


def read_split_dataset(data_uri: str, manifest: Manifest, split: str, verify: bool = True,
                       num_cpus: float = 0) -> Any:
    """The split's shards as a `ray.data.Dataset` with a `tokens` column.

    The shards are listed in manifest order; rows keep that order when the consumer sets
    `DataContext.execution_options.preserve_order` (Ray Train's ingest options do).
    Each row's `tokens` is an int32 list of exactly `manifest.seq_len` ids (the shards' own Parquet
    type). `num_cpus` is what each read / verify task reserves: 0 by default, because inside Ray
    Train and Tune the workers hold the CPUs and a task asking for a whole one would wait forever.
    """
    import ray

    shards = manifest.split_shards(split)
    if not shards:
        raise UserError(f"{data_uri} has no {split!r} shards; re-run jobs.prepare_data with a validation fraction > 0")
    if verify:
        verify_shards(data_uri, shards, num_cpus)
    try:
        return ray.data.read_parquet(_shard_paths(data_uri, shards), filesystem=_pyarrow_fs(data_uri),
                                     columns=["tokens"], file_extensions=None, num_cpus=num_cpus)
    except FileNotFoundError as err:
        raise UserError(f"{data_uri}: a shard of {split!r} is missing ({err}); re-run jobs.prepare_data") from None


def as_matrix(column: Any) -> np.ndarray:
    """A batch's `tokens` (numpy object array of lists, or a 2-D array) as (rows, seq_len) int32."""
    return np.stack(column).astype(np.int32, copy=False) if column.dtype == object else column  # (B, L)
