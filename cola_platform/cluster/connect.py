"""Which Ray address a driver started by hand on this machine should pass to `ray.init`.

Inside `ray job submit`, Ray sets the driver's `RAY_ADDRESS` to the GCS address and
`ray.init()` / `ray.init(address="auto")` just work. In a shell that sourced `.cluster/env`,
`RAY_ADDRESS` is the HTTP job API (what `ray job submit` needs) and `ray.init()` refuses it; the
GCS address is in `COLA_RAY_GCS_ADDRESS`. An explicit `ray.init(address=...)` overrides
`RAY_ADDRESS`, so `ray.init(address=ray_driver_address())` works in both places.

The embedded head listens on 127.0.0.1 only; a client reaches it only when
`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` is in its environment *before* `ray` is imported (the
sourced env file and every process of the cluster have it), else Ray swaps 127.0.0.1 for the LAN
address and the connection hangs; a driver without it is refused with a one-line error instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from cola_platform.cluster.state import DEFAULT_STATE_DIR, ClusterState
from cola_platform.errors import UserError

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def ray_driver_address(
    environ: Mapping[str, str] | None = None, state_dir: str | Path = DEFAULT_STATE_DIR
) -> str | None:
    """The GCS address for `ray.init(address=...)`, or None to let Ray decide (start a local instance).

    In order: a non-HTTP `RAY_ADDRESS` (set by `ray job submit`, or by the user); then
    `COLA_RAY_GCS_ADDRESS` (the sourced env file); then the running embedded cluster recorded in
    `state_dir/state.json`.
    """
    env = os.environ if environ is None else environ
    address = env.get("RAY_ADDRESS", "")
    if address and ("://" not in address or address.startswith("ray://")):
        return address
    gcs = env.get("COLA_RAY_GCS_ADDRESS") or _recorded_gcs(Path(state_dir))
    if gcs and gcs.startswith("127.0.0.1:") and env.get(LOOPBACK_ENV) != "0":
        # ray.init would hang in its GCS client: Ray swaps 127.0.0.1 for the LAN address
        raise UserError(
            f"the running cluster's Ray head ({gcs}) listens on loopback only and this shell lacks its "
            f"environment: `source {Path(state_dir).absolute() / 'env'}` first (or stop the cluster: "
            "python -m jobs.cluster down)"
        )
    return gcs


def _recorded_gcs(state_dir: Path) -> str | None:
    """The GCS address of the embedded cluster recorded in `state_dir`, when its head still runs."""
    try:
        state = ClusterState.load(state_dir.absolute())
    except Exception:  # unreadable state: behave as if nothing were recorded
        return None
    ray = state.services.get("ray") if state else None
    if ray is None or not ray.ref.alive():
        return None
    return ray.extra.get("gcs_address")
