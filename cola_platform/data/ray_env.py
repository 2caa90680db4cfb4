"""Connecting a driver to Ray (data jobs, training, sweeps, scaling studies, benchmarks): the cluster it
belongs to, else a local instance. `ensure_ray` is the one place the platform calls `ray.init`.

`address` (the data jobs' `--ray-address`, default `auto`):

* `auto`: `cluster.connect.ray_driver_address`: a non-HTTP `RAY_ADDRESS` (what `ray job submit`
  sets), else `COLA_RAY_GCS_ADDRESS` (a shell that sourced `.cluster/env`), else the embedded
  cluster that `python -m jobs.cluster up` recorded, while its head runs; else a new local
  instance. A loopback-only head in a shell without its environment is refused with a one-line
  error (`ray.init` would hang). Unlike `ray.init(address="auto")` this never attaches to some
  other process's Ray instance found by scanning the machine; a cluster started by a bare
  `ray start` is reached with `RAY_ADDRESS=HOST:PORT` or `--ray-address HOST:PORT`.
* `local`: always a new local instance (`cluster.local_instance.start_local_ray`);
* `HOST:PORT` or `ray://...`: that cluster.

S3 endpoint and region variables of the driver are passed to the workers through the job's runtime
environment (credentials are not: configure them on the cluster or in the job's runtime environment).
"""

from __future__ import annotations

import logging
import os

from cola_core.registry import FAMILY_MODULES_ENV

log = logging.getLogger(__name__)
FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION", FAMILY_MODULES_ENV)
"""Driver environment variables that every Ray worker of the job gets (when set)."""
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"


def _env_subset(keys: tuple[str, ...]) -> dict[str, str]:
    return {k: os.environ[k] for k in keys if os.environ.get(k)}


def ensure_ray(address: str = "auto", *, dashboard: bool = True, log_to_driver: bool = True) -> bool:
    """Connect to the cluster `address` resolves to, or start a local instance, unless Ray is already
    initialised; True when this call did it (the caller may then `ray.shutdown()`).

    `dashboard`: a local instance runs Ray's dashboard (Ray's state API, which Ray Train uses, needs
    it). `log_to_driver`: the workers' output is printed by this process. Raises UserError when
    the resolved cluster does not answer.
    """
    import ray

    if ray.is_initialized():
        return False
    from cola_platform.cluster.connect import ray_driver_address
    from cola_platform.errors import UserError

    target = ray_driver_address() if address == "auto" else address
    if target and target != "local":
        env = _env_subset(FORWARDED_ENV)
        try:
            ray.init(address=target, runtime_env={"env_vars": env} if env else None, log_to_driver=log_to_driver)
        except ConnectionError as err:
            raise UserError(
                f"cannot connect to the Ray cluster at {target} ({err}); start it, or run on a local "
                "instance (--ray-address local, or RAY_ADDRESS and COLA_RAY_GCS_ADDRESS unset)"
            ) from None
        log.info("connected to Ray cluster at %s (%s CPUs)", target, ray.cluster_resources().get("CPU", 0))
        return True
    # A local instance is one node that nothing drains or preempts: Ray Train's preemption watcher
    # (one more actor process per run) has nothing to watch.
    os.environ.setdefault(PREEMPTION_WATCHER_ENV, "0")
    from cola_platform.cluster.local_instance import start_local_ray

    start_local_ray(
        _env_subset((*FORWARDED_ENV, PREEMPTION_WATCHER_ENV)), include_dashboard=dashboard, log_to_driver=log_to_driver
    )
    log.info("started a local Ray instance (%s CPUs)", ray.cluster_resources().get("CPU", 0))
    return True


def cluster_cpus() -> int:
    """CPUs of the connected cluster (at least 1)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))
