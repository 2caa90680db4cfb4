"""Which Ray Train checkpoint a distributed run resumes from: the newest one that proves itself.

Ray Train hands its workers the latest checkpoint of the run's checkpoint-manager snapshot
(`<storage>/<run name>/checkpoint_manager_snapshot.json`), whatever state its files are in. So before
the trainer starts, the driver walks the run's checkpoint directories newest first and takes the
first one that Ray Train registered and that passes `verify_checkpoint`. The newer directories it
skipped (damaged, or never registered because their report did not complete) are

- dropped from the snapshot, with its latest entry set to the chosen checkpoint (or none): Ray Train
  then resumes from the chosen one, and its retention never deletes a directory that a re-written
  checkpoint of the same name now occupies;
- moved to `<storage>/<run name>/skipped/` (nothing is deleted), so the resumed run writes its
  checkpoints of those steps into fresh directories.

One warning line names what was skipped and why. When no checkpoint is valid the run starts from
the beginning, as the in-process path does (a finished run is never trained again: `dispatch`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from cola_platform import storage as st
from cola_platform.errors import UserError
from cola_platform.tracking.redact import redact_uri
from cola_platform.training.checkpoint_manifest import verify_checkpoint

log = logging.getLogger(__name__)

SNAPSHOT = "checkpoint_manager_snapshot.json"
"""Ray Train V2's checkpoint-manager state in the run's storage directory (CHECKPOINT_MANAGER_SNAPSHOT_FILENAME)."""
SKIPPED_DIR = "skipped"
UNREGISTERED = "never registered by Ray Train (its report did not complete)"


@dataclass
class SkippedCheckpoint:
    """A checkpoint directory resume passed over, and why."""

    name: str
    reason: str


@dataclass
class ResumeChoice:
    """The checkpoint to resume from (its URI; None: start from the beginning) and the newer ones skipped."""

    checkpoint: str | None
    skipped: list[SkippedCheckpoint] = field(default_factory=list)


def dir_name(uri: str) -> str:
    """The last path component of a checkpoint URI (its checkpoint directory name)."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def read_snapshot(run_uri: str) -> dict[str, Any]:
    """Ray Train's checkpoint-manager snapshot of the run ({} when the run never registered a checkpoint)."""
    fs, path = st.filesystem(st.join(run_uri, SNAPSHOT))
    try:
        snapshot = json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return {}
    except ValueError:
        raise UserError(
            f"{redact_uri(st.join(run_uri, SNAPSHOT))} is not valid JSON: Ray Train cannot resume this run; "
            "move the run's storage directory away to start it again"
        ) from None
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("checkpoint_results"), list):
        raise UserError(
            f"{redact_uri(st.join(run_uri, SNAPSHOT))} is not a Ray Train checkpoint snapshot this "
            "version understands (no checkpoint_results)"
        )
    return snapshot


def choose_checkpoint(run_uri: str, checkpoints: list[str]) -> ResumeChoice:
    """The newest of the run's checkpoint URIs (any stage; names sort by stage, then step) that Ray Train
    registered and that passes `verify_checkpoint`, and the newer ones skipped on the way."""
    registered = {r["checkpoint_dir_name"] for r in read_snapshot(run_uri).get("checkpoint_results", [])}
    skipped: list[SkippedCheckpoint] = []
    for uri in sorted(checkpoints, key=dir_name, reverse=True):
        reason = verify_checkpoint(uri) if dir_name(uri) in registered else UNREGISTERED
        if not reason:
            return ResumeChoice(uri, skipped)
        skipped.append(SkippedCheckpoint(dir_name(uri), reason))
    return ResumeChoice(None, skipped)


def forget(snapshot: dict[str, Any], drop: set[str], latest: str | None) -> dict[str, Any]:
    """`snapshot` without the checkpoints named in `drop`, its latest checkpoint set to `latest` (a name)."""
    out = dict(snapshot)
    kept = [i for i, r in enumerate(snapshot["checkpoint_results"]) if r["checkpoint_dir_name"] not in drop]
    out["checkpoint_results"] = [snapshot["checkpoint_results"][i] for i in kept]
    if "checkpoint_report_indices" in snapshot:
        out["checkpoint_report_indices"] = [snapshot["checkpoint_report_indices"][i] for i in kept]
    out["latest_checkpoint_result"] = next(
        (r for r in out["checkpoint_results"] if r["checkpoint_dir_name"] == latest), None
    )
    pending = snapshot.get("pending_training_results") or []
    kept_pending = [i for i, r in enumerate(pending) if r["checkpoint_dir_name"] not in drop]
    if "pending_training_results" in snapshot:
        out["pending_training_results"] = [pending[i] for i in kept_pending]
    if "pending_validation_specs" in snapshot:
        out["pending_validation_specs"] = [snapshot["pending_validation_specs"][i] for i in kept_pending]
    for key in (
        "validated_checkpoint_dir_names",
        "timed_out_validation_checkpoint_dir_names",
        "failed_validation_checkpoint_dir_names",
    ):
        if key in snapshot:
            out[key] = [name for name in snapshot[key] if name not in drop]
    return out


def set_aside(run_uri: str, choice: ResumeChoice) -> str:
    """Drop the skipped checkpoints from Ray Train's snapshot, then move them to `skipped/`; returns that URI."""
    drop = {s.name for s in choice.skipped}
    snapshot = read_snapshot(run_uri)
    if snapshot:
        latest = dir_name(choice.checkpoint) if choice.checkpoint else None
        st.write_text_atomic(st.join(run_uri, SNAPSHOT), json.dumps(forget(snapshot, drop, latest)))
    fs, root = st.filesystem(run_uri)
    aside = f"{root}/{SKIPPED_DIR}"
    fs.makedirs(aside, exist_ok=True)
    for name in sorted(drop):
        target, n = f"{aside}/{name}", 0
        while fs.exists(target):
            n += 1
            target = f"{aside}/{name}.{n}"
        _move_dir(fs, f"{root}/{name}", target, remote=st.is_remote(run_uri))
    return st.join(run_uri, SKIPPED_DIR)


def _move_dir(fs: Any, src: str, dst: str, remote: bool) -> None:
    """Rename a directory (local), or copy its objects one by one and delete them (S3: s3fs's recursive
    copy also tries to copy the directory keys, which do not exist)."""
    if not remote:
        fs.mv(src, dst)
        return
    for path in fs.find(src):
        fs.copy(path, dst + path[len(src) :])
    fs.rm(src, recursive=True)


def resume_checkpoint(run_uri: str, checkpoints: list[str]) -> str | None:
    """Choose the checkpoint a distributed run resumes from (None: from the beginning), set the newer
    skipped ones aside, and say so in one warning line. A storage outage is a one-line UserError."""
    try:
        choice = choose_checkpoint(run_uri, checkpoints)
        if not choice.skipped:
            return choice.checkpoint
        moved_to = set_aside(run_uri, choice)
    except OSError as err:
        raise UserError(
            f"cannot read the checkpoints of {redact_uri(run_uri)} ({type(err).__name__}: {err}); "
            "nothing was changed, re-run when the storage is reachable"
        ) from None
    log.warning(
        "skipped checkpoint(s) %s (moved to %s); resuming from %s",
        "; ".join(f"{s.name}: {s.reason}" for s in choice.skipped),
        redact_uri(moved_to),
        dir_name(choice.checkpoint) if choice.checkpoint else "the start",
    )
    return choice.checkpoint
