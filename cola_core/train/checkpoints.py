"""Local checkpoint directories `<root>/step_<N>/` that prove themselves, pruned to the newest K.

A checkpoint is written into a temp directory, then its manifest `checkpoint.json` (step and the
size and sha256 of every file) is written last, then the directory is renamed into place. Resume
takes the newest checkpoint whose files still match its manifest (`latest_valid`) and says which
newer ones it skipped and why: a truncated, overwritten or half-copied checkpoint is never trusted.
A directory without a manifest (interrupted copy, or written by an older version) is not valid.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping

_STEP_DIR = re.compile(r"^step_(\d+)$")
MANIFEST = "checkpoint.json"
_CHUNK = 1 << 20


def stream_sha256(stream: BinaryIO) -> str:
    """Hex sha256 of everything left in a binary stream, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    with open(path, "rb") as f:
        return stream_sha256(f)


def write_manifest(directory: Path, step: int, name: str = MANIFEST, **fields: Any) -> None:
    """Record the size and sha256 of every file under `directory` (but `name` itself) in its manifest
    `name` (default `checkpoint.json`), with `step` and any extra `fields`."""
    files = {
        str(p.relative_to(directory)): {"size": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.relative_to(directory) != Path(name)
    }
    (directory / name).write_text(json.dumps({**fields, "step": step, "files": files}, indent=1, sort_keys=True))


def check_files(
    files: Mapping[str, Mapping[str, Any]], size: Callable[[str], int | None], open_binary: Callable[[str], BinaryIO]
) -> str:
    """Why the files of a manifest's `files` table do not match it ("" when they all do).

    `size(name)` is a file's size (None when it is missing) and `open_binary(name)` opens it, so the
    same check runs on a local directory or on any other file system (e.g. S3 through fsspec).
    """
    for name, expected in files.items():
        actual = size(name)
        if actual is None:
            return f"{name} is missing"
        if actual != expected["size"]:
            return f"{name} has {actual} bytes, its manifest {expected['size']}"
        with open_binary(name) as f:
            if stream_sha256(f) != expected["sha256"]:
                return f"{name} does not match its checksum"
    return ""


def verify(directory: Path) -> str:
    """Why `directory` is not a complete, unmodified checkpoint ("" when it is)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"no readable {MANIFEST}"
    return check_files(files, lambda name: _local_size(directory / name), lambda name: open(directory / name, "rb"))


def _local_size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


@dataclass
class Skipped:
    """A checkpoint resume passed over, and why."""

    path: Path
    reason: str


class LocalCheckpoints:
    """Checkpoint directories under `root`; a directory exists only once it is complete."""

    def __init__(self, root: Path, keep: int = 2):
        self.root, self.keep = Path(root), max(1, keep)

    def steps(self) -> list[int]:
        """Checkpoint steps on disk (valid or not), ascending."""
        if not self.root.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir() if (m := _STEP_DIR.match(p.name)))

    def latest_valid(self) -> tuple[Path | None, list[Skipped]]:
        """The newest checkpoint that passes `verify`, and the newer ones skipped on the way."""
        skipped: list[Skipped] = []
        for step in reversed(self.steps()):
            path = self.root / f"step_{step}"
            reason = verify(path)
            if not reason:
                return path, skipped
            skipped.append(Skipped(path, reason))
        return None, skipped

    def save(self, step: int, write: Callable[[Path], Any]) -> Path:
        """Call `write(tmp_dir)`, add its manifest, rename it to `step_<N>` and prune old ones."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-step_{step}"
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        write_manifest(tmp, step)
        final = self.root / f"step_{step}"
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in self.steps()[: -self.keep]:
            shutil.rmtree(self.root / f"step_{old}", ignore_errors=True)
        return final
