"""Restoring one Ray Train rank from a checkpoint, with a damaged checkpoint reported once, not retried.

The driver only resumes from checkpoints that pass `verify_checkpoint` (`resume_choice`), but a
worker group restarted inside one run takes Ray Train's latest checkpoint as it is, and files can be
damaged after the driver looked. A load that fails on files that no longer match their manifests
would fail the same way after every restart, so it is deterministic: one line naming the checkpoint
and why goes to `stop` (the run recorder keeps it, every later attempt ends at once and the driver
raises it), and the rank fails so Ray Train tears the group down (its peers may wait in a
collective). Any other load failure, e.g. a peer that died mid-load, is left to Ray Train's restarts.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from cola_platform.training.checkpoint_manifest import verify_checkpoint


@contextlib.contextmanager
def local_copy(checkpoint: Any) -> Iterator[Path]:
    """A Ray Train checkpoint as a local directory: its own path on a local filesystem, else a download into a
    directory of this process's own, removed afterwards. (`Checkpoint.as_directory` shares one download directory
    between the processes of a node and deletes it when the last reader leaves; two ranks entering and leaving
    at once could read it half written or half deleted.)"""
    import pyarrow.fs

    if isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem):
        yield Path(checkpoint.path)
        return
    directory = Path(tempfile.mkdtemp(prefix="cola-checkpoint-"))
    try:
        checkpoint.to_directory(str(directory))
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class CheckpointDamaged(RuntimeError):
    """A checkpoint's files do not match its manifests (a restart would load the same bytes again)."""


def load_checkpoint(
    engine: Any, directory: Path, stop: Callable[[str], None], universal: bool = False
) -> dict[str, Any]:
    """`engine.load(directory, universal)` (this rank's loop state); on a failure caused by damaged files,
    `stop(line)` and raise `CheckpointDamaged`, else re-raise the failure as it is."""
    try:
        return engine.load(directory, universal)
    except Exception as err:
        reason = verify_checkpoint(str(directory))
        if not reason:
            raise
        message = (
            f"checkpoint {Path(directory).name} cannot be loaded: {reason}; re-run the same command to "
            "resume from the newest valid checkpoint"
        )
        stop(message)
        raise CheckpointDamaged(message) from err
