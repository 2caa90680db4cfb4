"""Atomic output for `jobs.prepare_data`: a staging prefix, resumable, committed with the manifest last.

Shards are written into `OUT.partial` (a sibling directory, or sibling prefix on S3) together
with `_plan.json` (the run's fingerprint and units) and a `_done-NNNNN.json` marker per finished
unit. Commit compacts the validation leftovers, then:

* local: writes `manifest.json` into the staging directory and renames it over OUT;
* S3: deletes OUT's old manifest first, copies the new objects in (server-side), deletes stale
  shards, and writes `manifest.json` last.

So OUT has a manifest only when it is complete. A run that fails on bad input removes the staging
prefix (no partial output); a crashed or interrupted run leaves it, and re-running the same
command resumes from the finished units (a different command starts over).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cola_core.utils.io import replace_dir
from cola_platform import storage
from cola_platform.data.fs import filesystem
from cola_platform.data.manifest import MANIFEST, Manifest, ShardInfo
from cola_platform.data.shards import read_shard, write_shard
from cola_platform.data.unit_work import DONE_PREFIX, PART_PREFIX, UnitResult
from cola_platform.errors import UserError

log = logging.getLogger(__name__)
PLAN = "_plan.json"
TOKENIZER = "tokenizer.json"


def absolute_out(out: str) -> str:
    """Local output paths made absolute (Ray workers may run elsewhere), URIs unchanged."""
    return (
        out.rstrip("/") if storage.is_remote(out) else os.path.abspath(os.path.expanduser(out.removeprefix("file://")))
    )


def _endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "(AWS default)"


@dataclass
class Staging:
    """The staging prefix of one output data directory."""

    out: str

    def __post_init__(self) -> None:
        self.out = absolute_out(self.out)
        self.uri = self.out + ".partial"
        self.fs, self.path = filesystem(self.uri)
        self.remote = storage.is_remote(self.out)

    def check_reachable(self) -> None:
        """Fail early (one line) when the output bucket is missing or its endpoint unreachable."""
        if not self.remote:
            return
        bucket = self.path.split("/", 1)[0]
        try:
            self.fs.info(bucket)
        except FileNotFoundError:
            raise UserError(f"--out {self.out}: bucket {bucket!r} does not exist; create it first") from None
        except Exception as err:
            raise UserError(
                f"cannot reach the S3 endpoint {_endpoint()} for --out {self.out} ({type(err).__name__}: "
                f"{err}); check --s3-endpoint / AWS_ENDPOINT_URL and credentials"
            ) from None

    def _file(self, name: str) -> str:
        return f"{self.path}/{name}"

    def resume_plan(self, fingerprint: str) -> dict[str, Any] | None:
        """The saved plan if the staging prefix holds an unfinished run of the same command."""
        try:
            plan = json.loads(self.fs.cat_file(self._file(PLAN)))
        except (FileNotFoundError, ValueError):
            return None
        if plan.get("fingerprint") != fingerprint or not self.fs.exists(self._file(TOKENIZER)):
            return None
        return plan

    def reset(self) -> None:
        """Start a fresh staging prefix."""
        self.wipe()
        self.fs.makedirs(self.path, exist_ok=True)

    def wipe(self) -> None:
        """Remove the staging prefix and everything in it."""
        if self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)

    def write_text(self, name: str, text: str) -> None:
        storage.write_text_atomic(storage.join(self.uri, name), text)

    def read_text(self, name: str) -> str:
        return storage.read_text(storage.join(self.uri, name))

    def done_results(self) -> dict[int, UnitResult]:
        """Results of the units finished by an earlier attempt."""
        self.fs.invalidate_cache()
        found = {}
        for p in self.fs.glob(self._file(f"{DONE_PREFIX}*.json")):
            r = UnitResult.from_json(self.fs.cat_file(p).decode())
            found[r.unit] = r
        return found

    def commit(self, manifest: Manifest) -> None:
        """Move the staged shards to OUT and write the manifest last."""
        self.fs.invalidate_cache()  # other processes (Ray workers) wrote here
        for name in [MANIFEST, PLAN] + [p.rsplit("/", 1)[1] for p in self.fs.glob(self._file(f"{DONE_PREFIX}*"))]:
            if self.fs.exists(self._file(name)):
                self.fs.rm(self._file(name))
        if not self.remote:
            self.write_text(MANIFEST, manifest.to_json())
            replace_dir(self.path, self.out)
            return
        out_path = filesystem(self.out)[1]
        if self.fs.exists(f"{out_path}/{MANIFEST}"):
            self.fs.rm(f"{out_path}/{MANIFEST}")
        keep = {s.path for s in manifest.shards} | {TOKENIZER}
        for name in sorted(keep):
            self.fs.copy(self._file(name), f"{out_path}/{name}")
        for old in self.fs.glob(f"{out_path}/*.parquet"):
            if old.rsplit("/", 1)[1] not in keep:
                self.fs.rm(old)
        storage.write_text_atomic(storage.join(self.out, MANIFEST), manifest.to_json())
        self.wipe()


def compact_validation(staging: Staging, results: list[UnitResult], seq_len: int, shard_rows: int) -> list[ShardInfo]:
    """Merge the per-unit validation leftovers into shards of up to `shard_rows` rows; returns all validation shards."""
    full = [s for r in results for s in r.shards if s.split == "validation" and not s.path.startswith(PART_PREFIX)]
    parts = [s for r in results for s in r.shards if s.path.startswith(PART_PREFIX)]
    out: list[ShardInfo] = []
    buf: list[np.ndarray] = []
    count = 0

    def flush(rows: np.ndarray) -> None:
        out.append(write_shard(staging.uri, f"validation-{len(out):05d}.parquet", "validation", rows))

    for part in parts:
        buf.append(read_shard(staging.uri, part, seq_len))
        count += len(buf[-1])
        while count >= shard_rows:
            block = np.concatenate(buf)
            flush(block[:shard_rows])
            buf, count = [block[shard_rows:]], len(block) - shard_rows
        staging.fs.rm(staging._file(part.path))
    if count:
        flush(np.concatenate(buf))
    return full + out
