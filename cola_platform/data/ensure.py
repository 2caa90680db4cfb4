"""Studies name their data; when it is missing and the study says how, prepare it first."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

from cola_platform import storage
from cola_platform.data.manifest import MANIFEST
from cola_platform.errors import UserError

log = logging.getLogger(__name__)


def prepare_command(data_uri: str, prepare: dict[str, Any]) -> list[str]:
    """The `jobs.prepare_data` command line for a study's [prepare] table (keys are its flags)."""
    cmd = [sys.executable, "-m", "jobs.prepare_data", "--out", data_uri]
    for key, value in prepare.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    return cmd


def ensure_prepared(data_uri: str, prepare: dict[str, Any]) -> None:
    """Make sure `data_uri` holds a prepared corpus, running `jobs.prepare_data` from `prepare` if not."""
    fs, path = storage.filesystem(storage.join(data_uri, MANIFEST))
    try:
        if fs.exists(path):
            return
    except Exception as err:
        raise UserError(f"cannot reach {data_uri}: {type(err).__name__}: {err}") from None
    if not prepare:
        raise UserError(
            f"{data_uri} holds no prepared data and the study has no [prepare] table; run jobs.prepare_data first"
        )
    cmd = prepare_command(data_uri, prepare)
    log.info("preparing %s: %s", data_uri, " ".join(cmd[1:]))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise UserError(f"preparing {data_uri} failed: {last}")
