"""End-to-end fixtures: `local_cluster`, one embedded cluster per test session started exactly as a user
would (`python -m jobs.cluster up --s3`) into a temp state dir on free ports, stopped with `down`.

It coexists with `tests/conftest.py::ray_cluster` (an in-process `ray.init()`): the head has its own
temp dir and no default ports (see cluster/README.md, "Two Ray clusters on one machine"). The
fixture never changes `os.environ`; use `local_cluster.env()` for subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from cola_platform.cluster.net import free_port
from cola_platform.cluster.services import SCRUBBED_ENV, ray_cli
from cola_platform.cluster.state import ClusterState, read_env_file

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 600  # seconds: MLflow alone needs ~20 s, much more when other test sessions load the cores


@dataclass
class LocalCluster:
    """A running embedded cluster: addresses, env file contents, and a `ray job submit` helper."""

    state_dir: Path
    variables: dict[str, str]            # the env file (RAY_ADDRESS, MLFLOW_TRACKING_URI, AWS_*, ...)
    dashboard_url: str                   # http://127.0.0.1:P, the job API (= RAY_ADDRESS)
    gcs_address: str                     # 127.0.0.1:P
    mlflow_uri: str
    s3_endpoint: str
    bucket: str
    pids: dict[str, int] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ without stale cluster variables, plus the env file and `extra`."""
        base = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        return {**base, **self.variables, **extra}

    def submit(self, *entrypoint: str, working_dir: Path = REPO, timeout: float = 600,
               runtime_env: Path | None = REPO / "cluster" / "runtime_env.yaml") -> subprocess.CompletedProcess:
        """`ray job submit --address RAY_ADDRESS [--runtime-env F] --working-dir DIR -- ENTRYPOINT...` (waits, logs in stdout)."""
        cmd = [*ray_cli(), "job", "submit", "--address", self.dashboard_url]
        if runtime_env is not None:
            cmd += ["--runtime-env", str(runtime_env)]
        cmd += ["--working-dir", str(working_dir), "--", *entrypoint]
        return subprocess.run(cmd, cwd=working_dir, env=self.env(), capture_output=True, text=True, timeout=timeout)


def run_cluster_cli(*args: str, timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m jobs.cluster ARGS` from the repository root, in a clean environment."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    return subprocess.run([sys.executable, "-m", "jobs.cluster", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    """`jobs.cluster up --s3` into a temp state dir on free ports (2 CPUs); `down` at the end of the session."""
    state_dir = tmp_path_factory.mktemp("local_cluster")
    ports: set[int] = set()
    for _ in range(4):
        ports.add(free_port(ports))
    ray_port, dashboard_port, mlflow_port, s3_port = sorted(ports)
    up = run_cluster_cli("up", "--s3", "--state-dir", str(state_dir), "--num-cpus", "2", "--ray-port", str(ray_port),
                         "--dashboard-port", str(dashboard_port), "--mlflow-port", str(mlflow_port),
                         "--s3-port", str(s3_port), "--timeout", "300")
    if up.returncode != 0:
        run_cluster_cli("down", "--state-dir", str(state_dir), timeout=180)
        pytest.fail(f"jobs.cluster up failed ({up.returncode}):\n{up.stdout}\n{up.stderr[-3000:]}")
    try:
        state = ClusterState.load(state_dir)
        assert state is not None
        variables = read_env_file(state_dir / "env")
        yield LocalCluster(state_dir=state_dir, variables=variables, dashboard_url=variables["RAY_ADDRESS"],
                           gcs_address=variables["COLA_RAY_GCS_ADDRESS"], mlflow_uri=variables["MLFLOW_TRACKING_URI"],
                           s3_endpoint=variables["AWS_ENDPOINT_URL"], bucket=variables["COLA_S3_BUCKET"],
                           pids={rec.name: rec.pid for rec in state.ordered()})
    finally:
        down = run_cluster_cli("down", "--state-dir", str(state_dir), timeout=300)
        if down.returncode != 0:
            print(f"jobs.cluster down failed ({down.returncode}): {down.stderr[-2000:]}", file=sys.stderr)
