"""A sweep's search space, recorded when its trials start, so a re-submission can tell whether it changed.

Tune restores a study with the search space it started with: a grid widened in the study file afterwards
would silently run nothing new. The record (`<out>/search_space.json`) makes that a clear error instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cola_core.utils.io import atomic_write_json
from cola_platform.errors import UserError
from sweeps.study import SweepStudy

RECORD = "search_space.json"


def space_fingerprint(study: SweepStudy) -> str:
    """A hash of what decides the study's trials: its parsed space, search algorithm and trial count."""
    text = repr((study.space, study.search, study.num_samples))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_space(out: Path, study: SweepStudy) -> None:
    """Write the fingerprint of a study that starts its trials now."""
    atomic_write_json(out / RECORD, {"study": study.name, "fingerprint": space_fingerprint(study)})


def check_space_unchanged(out: Path, study: SweepStudy) -> None:
    """Before restoring: refuse a study whose space differs from the one its trials started with (a study
    started before spaces were recorded is not checked)."""
    path = out / RECORD
    if path.is_file() and json.loads(path.read_text())["fingerprint"] != space_fingerprint(study):
        raise UserError(
            f"study {study.name}: its search space, search or trial count changed since its trials started in "
            f"{out} (a restored study keeps the old ones and would run nothing new): give the study a new name, "
            f"or delete {out} to start over"
        )
