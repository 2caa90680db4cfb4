"""A sweep's search space and trial settings, recorded when its trials start, so a re-submission can tell
whether they changed.

Tune restores a study with the trials it started with: a grid widened in the study file afterwards would
silently run nothing new, and a study whose steps, overrides or evaluation changed would report its old
trials as results of the new settings. The record (`<out>/search_space.json`) makes either a clear error.
Fields that only shape the summary or the scheduling of trials (description, analysis, group_by,
max_concurrent, max_failures) may change freely.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from cola_core.utils.io import atomic_write_json
from cola_platform.errors import UserError
from sweeps.study import SweepStudy

RECORD = "search_space.json"
FREE_FIELDS = frozenset({"name", "path", "description", "analysis", "group_by", "max_concurrent", "max_failures"})
SPACE_FIELDS = frozenset({"space", "search", "num_samples"})


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def space_fingerprint(study: SweepStudy) -> str:
    """A hash of what decides the study's points: its parsed space, search algorithm and trial count."""
    return _hash(repr((study.space, study.search, study.num_samples)))


def settings_fingerprint(study: SweepStudy) -> str:
    """A hash of what decides a trial's result at a point: every other study field (steps, overrides,
    preset, data, objective, evaluation, ...) except the free ones."""
    fields = sorted(
        (f.name, repr(getattr(study, f.name)))
        for f in dataclasses.fields(study)
        if f.name not in FREE_FIELDS | SPACE_FIELDS
    )
    return _hash(repr(fields))


def record_space(out: Path, study: SweepStudy) -> None:
    """Write the fingerprints of a study that starts its trials now."""
    atomic_write_json(
        out / RECORD,
        {"study": study.name, "fingerprint": space_fingerprint(study), "settings": settings_fingerprint(study)},
    )


def check_space_unchanged(out: Path, study: SweepStudy) -> None:
    """Before restoring: refuse a study whose space or trial settings differ from the ones its trials started
    with (a study started before they were recorded is not checked)."""
    path = out / RECORD
    if not path.is_file():
        return
    saved = json.loads(path.read_text())
    if saved["fingerprint"] != space_fingerprint(study):
        changed = "its search space, search or trial count"
    elif saved.get("settings", settings_fingerprint(study)) != settings_fingerprint(study):
        changed = "its trial settings (steps, overrides, data, objective or evaluation)"
    else:
        return
    raise UserError(
        f"study {study.name}: {changed} changed since its trials started in {out} (a restored study keeps the "
        f"old trials and would report them as results of the new settings): give the study a new name, or "
        f"delete {out / 'tune'} to run its trials again (finished Stage-1 VAEs and trial directories are kept)"
    )
