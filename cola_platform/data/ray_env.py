"""Connecting a data job to Ray: the running cluster when there is one, else a local instance.

`--ray-address` (default `auto`):

* `auto`: `RAY_ADDRESS` when set (what `ray job submit` sets); else the cluster that `ray start`
  / `python -m jobs.cluster up` recorded on this machine (`/tmp/ray/ray_current_cluster`), if it
  answers; else a new local instance. Unlike `ray.init(address="auto")` this never attaches to
  some other process's private `ray.init()` instance found by scanning processes.
* `local`: always a new local instance;
* `HOST:PORT` or `ray://...`: that cluster.

S3 endpoint and region variables of the driver are passed to the workers (credentials are not:
configure them on the cluster or in the job's runtime environment).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION")


def _recorded_address() -> str | None:
    try:
        from ray._private.utils import read_ray_address

        return read_ray_address()
    except Exception:  # private API moved: just start a local instance
        return None


def ensure_ray(address: str = "auto") -> bool:
    """Initialise Ray unless it already is; returns True when this call started/connected it."""
    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    kwargs = {"log_to_driver": False, "runtime_env": {"env_vars": env} if env else None}
    if address == "auto":
        target = os.environ.get("RAY_ADDRESS") or _recorded_address()
    else:
        target = address
    if target and target != "local":
        try:
            ray.init(address=target, **kwargs)
            log.info("connected to Ray cluster at %s (%s CPUs)", target, ray.cluster_resources().get("CPU", 0))
            return True
        except ConnectionError as err:
            if address != "auto" or os.environ.get("RAY_ADDRESS"):
                from cola_platform.errors import UserError

                raise UserError(f"cannot connect to the Ray cluster at {target} ({err}); start it or pass --ray-address local") from None
            log.warning("recorded Ray cluster %s does not answer; starting a local instance", target)
    from cola_platform.cluster.local_instance import start_local_ray

    start_local_ray(env, include_dashboard=False, log_to_driver=False)
    log.info("started a local Ray instance (%s CPUs)", ray.cluster_resources().get("CPU", 0))
    return True


def cluster_cpus() -> int:
    """CPUs of the connected cluster (at least 1)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))
