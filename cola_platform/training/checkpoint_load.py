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

from pathlib import Path
from typing import Any, Callable

from cola_platform.training.checkpoint_manifest import verify_checkpoint


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
