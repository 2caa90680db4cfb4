"""Ray Train checkpoints that prove themselves: one manifest per rank, checked before anything trusts them.

Every rank writes its own part of a checkpoint (DeepSpeed's shards, its loop state; rank 0 also
`cola_meta.json` and, at the end, the export) into a local temp directory, and Ray Train merges the
ranks' directories into one storage directory. So each rank lists the files it wrote, with their
size and sha256, in `checkpoint.rank_<r>.json` (`cola_core.train.checkpoints.write_manifest`), the
last file it writes before the report. A checkpoint is valid when its `cola_meta.json` names the
world size W, the manifests of ranks 0 … W-1 are all there, and every file they list matches. The
check reads through fsspec, so it works on a local directory and on an s3:// prefix alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cola_core.train.checkpoints import check_files, write_manifest
from cola_platform import storage as st

META_FILE = "cola_meta.json"
"""Rank 0's description of a checkpoint: step, stage, world size, MLflow run id."""
RANK_MANIFEST = "checkpoint.rank_{rank}.json"


def write_rank_manifest(directory: Path, step: int, rank: int, world_size: int) -> None:
    """Rank `rank`: record every file it wrote into its checkpoint temp dir `directory` (call it last)."""
    write_manifest(Path(directory), step, name=RANK_MANIFEST.format(rank=rank), rank=rank, world_size=world_size)


def verify_checkpoint(uri: str) -> str:
    """Why the checkpoint at `uri` (local path or s3:// URI) is not complete and unmodified ("" when it is).

    A missing or unreadable file is a verdict; an error reaching the storage itself (other than a
    missing file) is raised as OSError, so an outage is never mistaken for a damaged checkpoint.
    """
    fs, root = st.filesystem(uri)
    meta = _read_json(fs, f"{root}/{META_FILE}")
    if not isinstance(meta, dict) or not isinstance(meta.get("world_size"), int):
        return f"{META_FILE} is {'missing' if meta is None else 'not readable'}"
    files: dict[str, Any] = {}
    for rank in range(meta["world_size"]):
        name = RANK_MANIFEST.format(rank=rank)
        manifest = _read_json(fs, f"{root}/{name}")
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            return f"{name} is {'missing' if manifest is None else 'not readable'}"
        for file, entry in manifest["files"].items():
            if files.setdefault(file, entry) != entry:
                return f"{file} differs between the ranks' manifests"
    return check_files(files, lambda name: _size(fs, f"{root}/{name}"), lambda name: fs.open(f"{root}/{name}", "rb"))


def _read_json(fs: Any, path: str) -> Any:
    """The parsed JSON file at `path`; None when it is missing, "" when it is not JSON."""
    try:
        return json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return None
    except ValueError:
        return ""


def _size(fs: Any, path: str) -> int | None:
    try:
        return int(fs.size(path))
    except FileNotFoundError:
        return None
