"""Ray processes find their own cluster when another Ray instance runs on the machine.

Ray's state API resolves the cluster from `RAY_ADDRESS`, else by scanning the machine; with two
instances the scan fails ("Found multiple active Ray instances"). Ray Train's placement-group
cleaner calls it from inside the cluster: it died that way, the placement groups of trials Tune
stopped stayed reserved, and a sweep next to another instance deadlocked. Every process of our
local instances (and of `jobs.cluster up`, tests/e2e) inherits its cluster's address.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]
SECOND_INSTANCE = (
    "import ray, sys, time; ray.init(address='local', num_cpus=1, include_dashboard=False); "
    "print('up', flush=True); time.sleep(600)"
)


def test_state_api_inside_the_cluster_works_next_to_another_ray_instance(ray_cluster):
    import ray

    other = subprocess.Popen([sys.executable, "-c", SECOND_INSTANCE], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "up"

        @ray.remote(num_cpus=0)
        def actors_seen_from_a_worker() -> tuple[str, int]:
            import os

            from ray.util.state import list_actors

            return os.environ.get("RAY_ADDRESS", ""), len(list_actors())

        address, _ = ray.get(actors_seen_from_a_worker.remote(), timeout=120)
        assert address.endswith(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1])
    finally:
        other.kill()
        other.wait()
        time.sleep(1)
