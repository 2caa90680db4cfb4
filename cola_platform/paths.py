"""Where relative paths point.

A job submitted with `ray job submit --working-dir .` runs inside Ray's unpacked copy of the
project, which excludes git-ignored folders such as `runs/`. `jobs.cluster up` therefore exports
`COLA_PROJECT_ROOT` (the directory it was started from) to every job, and relative data and
output paths resolve against it, so submitted jobs read and write the same `runs/` as local ones.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT_ENV = "COLA_PROJECT_ROOT"


def project_path(path: str) -> str:
    """`path` unchanged if absolute or a URI; else resolved against $COLA_PROJECT_ROOT (or the cwd)."""
    if not path or "://" in path or Path(path).is_absolute():
        return path
    root = os.environ.get(PROJECT_ROOT_ENV)
    return str(Path(root) / path) if root else path
