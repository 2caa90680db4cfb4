"""Where relative paths point.

A job submitted with `ray job submit --working-dir .` runs inside Ray's unpacked copy of the
project, which excludes git-ignored folders such as `runs/`. `jobs.cluster up` therefore exports
`COLA_PROJECT_ROOT` (the directory it was started from) to every job, and relative data and
output paths resolve against it, so submitted jobs read and write the same `runs/` as local ones.
Without it they resolve against the driver's working directory, so Ray tasks and Train workers
(whose working directory is Ray's, not the driver's) still find them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT_ENV = "COLA_PROJECT_ROOT"


def project_path(path: str) -> str:
    """`path` unchanged if empty, absolute or a URI; else made absolute against $COLA_PROJECT_ROOT (or the cwd)."""
    if not path or "://" in path or Path(path).is_absolute():
        return path
    return str(Path(os.environ.get(PROJECT_ROOT_ENV) or os.getcwd()) / path)
