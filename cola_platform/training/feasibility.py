"""Can the cluster ever hold this worker group? Asked before a Ray Train run starts.

Ray Train waits for a worker group that does not fit the cluster without a word (its controller
retries the start forever), so `--workers 3` on a 2-CPU cluster used to hang. A worker needs its
CPU share (and one GPU with `train.device = "cuda"`) on one node; the group fits when the alive
nodes' capacities add up to enough whole workers. On an autoscaling cluster the group may fit
later: `COLA_WAIT_FOR_WORKERS=1` skips the check.
"""

from __future__ import annotations

import math
import os
from typing import Any

from cola_platform.errors import UserError

WAIT_ENV = "COLA_WAIT_FOR_WORKERS"


def workers_that_fit(nodes: list[dict[str, Any]], cpus_per_worker: float, gpus_per_worker: float) -> int:
    """How many workers the alive `nodes` (as `ray.nodes()` lists them) can hold at once."""
    total = 0
    for node in nodes:
        if not node.get("Alive", False):
            continue
        res = node.get("Resources", {})
        fits = math.floor(res.get("CPU", 0.0) / cpus_per_worker + 1e-9) if cpus_per_worker else math.inf
        if gpus_per_worker:
            fits = min(fits, math.floor(res.get("GPU", 0.0) / gpus_per_worker + 1e-9))
        total += 0 if math.isinf(fits) else int(fits)
    return total


def check_workers_fit(workers: int, cpus_per_worker: float, gpus_per_worker: float = 0.0) -> None:
    """Raise UserError when the connected Ray cluster can never place `workers` workers."""
    import ray

    if os.environ.get(WAIT_ENV, "") not in ("", "0"):
        return
    nodes = ray.nodes()
    fit = workers_that_fit(nodes, cpus_per_worker, gpus_per_worker)
    if fit >= workers:
        return
    cpus = sum(n.get("Resources", {}).get("CPU", 0.0) for n in nodes if n.get("Alive"))
    gpus = sum(n.get("Resources", {}).get("GPU", 0.0) for n in nodes if n.get("Alive"))
    need = f"{cpus_per_worker:g} CPU" + (f" + {gpus_per_worker:g} GPU" if gpus_per_worker else "")
    raise UserError(
        f"{workers} Ray Train workers ({need} each) do not fit the Ray cluster ({cpus:g} CPUs, "
        f"{gpus:g} GPUs on {sum(1 for n in nodes if n.get('Alive'))} node(s); at most {fit} fit): "
        f"use --workers {max(fit, 1)} or a larger cluster ({WAIT_ENV}=1 waits for an autoscaler)"
    )
