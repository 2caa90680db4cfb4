"""End-to-end fixtures: `local_cluster`, one embedded cluster per test session started exactly as a user
would (`python -m jobs.cluster up --s3`) into a temp state dir on free ports, stopped with `down`
(`cola_platform.cluster.scratch`, which the fault drills of `jobs.bench faults` use too).

It coexists with `tests/conftest.py::ray_cluster` (an in-process `ray.init()`): the head has its own
temp dir and no default ports (see cluster/README.md, "Two Ray clusters on one machine"). The
fixture never changes `os.environ`; use `local_cluster.env()` for subprocesses.
"""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

from cola_platform.cluster.scratch import ScratchCluster, start_scratch_cluster, stop_scratch_cluster


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory) -> Iterator[ScratchCluster]:
    """`jobs.cluster up --s3` into a temp state dir on free ports (2 CPUs); `down` at the end of the session."""
    state_dir = tmp_path_factory.mktemp("local_cluster")
    try:
        cluster = start_scratch_cluster(state_dir)
    except RuntimeError as err:
        pytest.fail(str(err))
    try:
        yield cluster
    finally:
        down = stop_scratch_cluster(state_dir)
        if down.returncode != 0:
            print(f"jobs.cluster down failed ({down.returncode}): {down.stderr[-2000:]}", file=sys.stderr)
