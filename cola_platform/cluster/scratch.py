"""A throwaway embedded cluster: `python -m jobs.cluster up --s3` into a given state dir on free ports.

Started exactly as a user would start one, for end-to-end tests and fault drills that must not touch
the cluster a user may be running from `.cluster/`: its own state dir (Ray temp dir, MLflow store,
logs), free loopback ports, 2 CPUs by default; stopped with `jobs.cluster down` on the same state
dir, which stops only the processes it recorded.

    cluster = start_scratch_cluster(Path("/tmp/x/cluster"))
    subprocess.run([...], env=cluster.env())      # the shell of a user who sourced its env file
    stop_scratch_cluster(cluster.state_dir)
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cola_platform.cluster.net import free_port
from cola_platform.cluster.services import SCRUBBED_ENV, ray_cli
from cola_platform.cluster.state import STATE_DIR_ENV, ClusterState, read_env_file

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 600
"""Seconds for `up`: MLflow alone needs ~20 s, much more when other work loads the cores."""


@dataclass
class ScratchCluster:
    """A running embedded cluster: addresses, env file contents, and a `ray job submit` helper."""

    state_dir: Path
    variables: dict[str, str]  # the env file (RAY_ADDRESS, MLFLOW_TRACKING_URI, AWS_*, ...)
    dashboard_url: str  # http://127.0.0.1:P, the job API (= RAY_ADDRESS)
    gcs_address: str  # 127.0.0.1:P
    mlflow_uri: str
    s3_endpoint: str
    bucket: str
    pids: dict[str, int] = field(default_factory=dict)
    """The process `up` launched per service (Ray: `ray start --head --block`, parent of the whole node)."""

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ without stale cluster variables, plus the env file, this state dir and `extra`."""
        base = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        return {**base, **self.variables, STATE_DIR_ENV: str(self.state_dir), **extra}

    def submit(
        self,
        *entrypoint: str,
        working_dir: Path = REPO,
        timeout: float = 600,
        runtime_env: Path | None = REPO / "cluster" / "runtime_env.yaml",
    ) -> subprocess.CompletedProcess:
        """`ray job submit --address RAY_ADDRESS [--runtime-env F] --working-dir DIR -- ENTRYPOINT...` (waits, logs in stdout)."""
        cmd = [*ray_cli(), "job", "submit", "--address", self.dashboard_url]
        if runtime_env is not None:
            cmd += ["--runtime-env", str(runtime_env)]
        cmd += ["--working-dir", str(working_dir), "--", *entrypoint]
        return subprocess.run(cmd, cwd=working_dir, env=self.env(), capture_output=True, text=True, timeout=timeout)


def cluster_cli(*args: str, timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m jobs.cluster ARGS` from the repository root, in an environment without cluster variables."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    return subprocess.run(
        [sys.executable, "-m", "jobs.cluster", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_scratch_cluster(
    state_dir: Path, num_cpus: int = 2, s3: bool = True, timeout: float = UP_TIMEOUT
) -> ScratchCluster:
    """`jobs.cluster up [--s3]` into `state_dir` on free ports; RuntimeError (after `down`) when it fails."""
    ports: set[int] = set()
    for _ in range(4):
        ports.add(free_port(ports))
    ray_port, dashboard_port, mlflow_port, s3_port = sorted(ports)
    args = [
        "up",
        "--state-dir",
        str(state_dir),
        "--num-cpus",
        str(num_cpus),
        "--ray-port",
        str(ray_port),
        "--dashboard-port",
        str(dashboard_port),
        "--mlflow-port",
        str(mlflow_port),
        "--timeout",
        str(timeout / 2),
    ]
    up = cluster_cli(*args, *(["--s3", "--s3-port", str(s3_port)] if s3 else []), timeout=timeout)
    state = ClusterState.load(state_dir) if up.returncode == 0 else None
    if state is None:
        stop_scratch_cluster(state_dir)
        raise RuntimeError(f"jobs.cluster up failed ({up.returncode}):\n{up.stdout}\n{up.stderr[-3000:]}")
    variables = read_env_file(state_dir / "env")
    return ScratchCluster(
        state_dir=state_dir,
        variables=variables,
        dashboard_url=variables["RAY_ADDRESS"],
        gcs_address=variables["COLA_RAY_GCS_ADDRESS"],
        mlflow_uri=variables["MLFLOW_TRACKING_URI"],
        s3_endpoint=variables.get("AWS_ENDPOINT_URL", ""),
        bucket=variables.get("COLA_S3_BUCKET", ""),
        pids={rec.name: rec.pid for rec in state.ordered()},
    )


def stop_scratch_cluster(state_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`jobs.cluster down` on `state_dir` (stops only what that state dir recorded)."""
    return cluster_cli("down", "--state-dir", str(state_dir), timeout=timeout)
