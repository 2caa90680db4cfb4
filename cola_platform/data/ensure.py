"""Studies name their data; when it is missing and the study says how, prepare it first (in this process)."""

from __future__ import annotations

import logging
from typing import Any

from cola_platform import storage
from cola_platform.data.manifest import MANIFEST
from cola_platform.data.prepare import prepare
from cola_platform.data.prepare_args import config_from_table
from cola_platform.errors import UserError

log = logging.getLogger(__name__)


def ensure_prepared(data_uri: str, table: dict[str, Any]) -> None:
    """Make sure `data_uri` holds a prepared corpus, preparing it from a study's `[prepare]` table if not
    (the same flags as `jobs.prepare_data`; its progress lines go to this process's log)."""
    fs, path = storage.filesystem(storage.join(data_uri, MANIFEST))
    try:
        if fs.exists(path):
            return
    except Exception as err:
        raise UserError(f"cannot reach {data_uri}: {type(err).__name__}: {err}") from None
    if not table:
        raise UserError(
            f"{data_uri} holds no prepared data and the study has no [prepare] table; run jobs.prepare_data first"
        )
    log.info("preparing %s from the study's [prepare] table: %s", data_uri, table)
    prepare(config_from_table(data_uri, table))
