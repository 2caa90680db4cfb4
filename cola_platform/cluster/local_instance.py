"""A private local Ray instance whose processes know its address.

`ray.init(address="local")` alone starts an instance whose processes find "their" cluster by
scanning the machine: with a second Ray instance on it (another job's, a test session's,
`jobs.cluster up`), Ray's state API raises "Found multiple active Ray instances" inside them.
Ray Train's placement-group cleaner is one of them: it died that way, the placement groups of every
trial Tune stopped stayed reserved, and a sweep running next to another Ray instance deadlocked
once they held all CPUs. Here the GCS port is chosen up front (`RAY_GCS_SERVER_PORT`) and every
process of the instance inherits `RAY_ADDRESS` pointing at it (they inherit this process's
environment when `ray.init` starts them; `address="local"` itself ignores `RAY_ADDRESS`).
"""

from __future__ import annotations

import os
from typing import Any

from cola_platform.cluster.net import HOST, free_port


def start_local_ray(env_vars: dict[str, str] | None = None, **init_kwargs: Any) -> str:
    """`ray.init(address="local", ...)` with its address in its processes' environment; returns that address.

    `env_vars` go to the job's workers through the runtime environment. This process's
    environment is restored afterwards (it is connected; what it starts later decides for itself).
    """
    import ray

    port = free_port()
    address = f"{HOST}:{port}"  # the GCS listens on every interface of a local instance, loopback included
    own = {"RAY_GCS_SERVER_PORT": str(port), "RAY_ADDRESS": address}
    saved = {k: os.environ.get(k) for k in own}
    os.environ.update(own)
    try:
        ray.init(address="local", runtime_env={"env_vars": dict(env_vars)} if env_vars else None, **init_kwargs)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return address
