"""The cluster's state directory: `state.json` (what `up` started, with PIDs) and `env` (addresses to source).

Layout of the state directory (default `.cluster/`, git-ignored)::

    state.json      services, their addresses, ports and PIDs (written atomically)
    env             `export KEY=VALUE` lines: `source .cluster/env`
    logs/           one log per server (ray.log, mlflow.log, s3.log)
    mlflow/         mlflow.db (SQLite backend store) and artifacts/ (local artifact store)
    ray/            Ray's temp dir (sessions, logs) when the state dir path is short enough
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cola_core.utils.io import atomic_write_json, atomic_write_text
from cola_platform.cluster.procs import ProcRef
from cola_platform.errors import UserError

STATE_DIR_ENV = "COLA_CLUSTER_DIR"
DEFAULT_STATE_DIR = os.environ.get(STATE_DIR_ENV) or ".cluster"
"""Where `jobs.cluster` records the embedded cluster and where drivers look for it ($COLA_CLUSTER_DIR overrides)."""
STATE_FILE = "state.json"
ENV_FILE = "env"
STATE_VERSION = 1
# Start order; `down` stops in reverse.
SERVICE_ORDER = ("s3", "mlflow", "ray")


@dataclass
class ServiceRecord:
    """One server that `up` started."""

    name: str  # "ray", "mlflow" or "s3"
    address: str  # URL clients use (Ray: the dashboard / job API)
    pid: int  # the process `up` launched (Ray: `ray start --head --block`)
    create_time: float  # its start time, so a reused PID is never mistaken for it
    log: str  # absolute path of its log file
    ports: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # gcs_address, session_name, bucket, ...
    children: list[dict[str, float]] = field(default_factory=list)  # [{"pid", "create_time"}] seen at start-up

    @property
    def ref(self) -> ProcRef:
        """The launched process."""
        return ProcRef(self.pid, self.create_time)

    def child_refs(self) -> list[ProcRef]:
        """Child processes recorded once the service answered."""
        return [ProcRef(int(c["pid"]), float(c["create_time"])) for c in self.children]


@dataclass
class ClusterState:
    """Everything `down` and `status` need to find the servers again."""

    state_dir: str
    phase: str  # "starting" while `up` waits, then "up"
    started_at: str
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    ray_temp_dir: str = ""
    ray_temp_dir_owned: bool = False  # True when up created it outside the state dir
    version: int = STATE_VERSION

    def ordered(self) -> list[ServiceRecord]:
        """Services in start order."""
        return [self.services[n] for n in SERVICE_ORDER if n in self.services]

    def save(self) -> None:
        """Write `state.json` atomically."""
        atomic_write_json(state_path(self.state_dir), asdict(self))

    @classmethod
    def load(cls, state_dir: str | Path) -> "ClusterState | None":
        """The recorded state, or None when there is none."""
        path = state_path(state_dir)
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text())
            services = {k: ServiceRecord(**v) for k, v in raw.pop("services", {}).items()}
            return cls(services=services, **raw)
        except (ValueError, TypeError) as err:
            raise UserError(f"{path} is not a cluster state file ({err}); delete it if no cluster is running") from None


def state_path(state_dir: str | Path) -> Path:
    """`<state_dir>/state.json`."""
    return Path(state_dir) / STATE_FILE


def env_path(state_dir: str | Path) -> Path:
    """`<state_dir>/env`."""
    return Path(state_dir) / ENV_FILE


ENV_COMMENTS = {
    "RAY_ADDRESS": "Ray job API for `ray job submit` (drivers of submitted jobs get the GCS address instead)",
    "RAY_AUTH_MODE": "Ray token authentication; the token stays in ~/.ray/auth_token (never in this file)",
    "COLA_RAY_GCS_ADDRESS": "for a driver started by hand on this machine: RAY_ADDRESS=$COLA_RAY_GCS_ADDRESS python ...",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0 = Ray treats 127.0.0.1 as this node's address (the head listens on loopback only)",
    "MLFLOW_TRACKING_URI": "MLflow tracking server",
    "COLA_PROJECT_ROOT": "relative data/run paths of submitted jobs resolve here (not in Ray's copy of the working dir)",
    "AWS_ENDPOINT_URL": "local S3 server (moto); dummy credentials below",
    "COLA_S3_BUCKET": "default bucket: s3://$COLA_S3_BUCKET/...",
}


def write_env_file(path: Path, env: Mapping[str, str], header: str) -> None:
    """Write `export KEY=VALUE` lines (shell-quoted) that `source` loads into the environment."""
    lines = [f"# {ln}" for ln in header.splitlines()]
    for key, value in env.items():
        if key in ENV_COMMENTS:
            lines.append(f"# {ENV_COMMENTS[key]}")
        lines.append(f"export {key}={shlex.quote(value)}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse an env file written by `write_env_file` into a dict."""
    env: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        key, _, value = line.partition("=")
        parsed = shlex.split(value)
        env[key.strip()] = parsed[0] if parsed else ""
    return env
