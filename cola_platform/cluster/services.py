"""The three servers of the embedded cluster: command lines, launch, health checks.

* Ray head: `ray start --head --block` (the process stays, so stopping it by PID stops its whole
  node), token authentication on, every port explicit or random so a second Ray instance on the
  machine (a test session's `ray.init()`, another `jobs.cluster up`) cannot collide, its own temp
  dir so `ray.init()` elsewhere never attaches to it.
* MLflow tracking server: SQLite backend store, proxied artifacts (local dir or s3://).
* S3: moto's server with dummy credentials.

These functions are usable on their own (tests start single servers with them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from cola_platform.cluster.net import HOST, http_get, http_ok
from cola_platform.cluster.procs import launch
from cola_platform.errors import UserError

log = logging.getLogger(__name__)

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# Variables a sourced env file may have left in the caller's shell that must not leak into the
# servers: an http:// RAY_ADDRESS breaks `ray.init()` in every worker that inherits it.
SCRUBBED_ENV = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "COLA_RAY_GCS_ADDRESS")


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment minus stale cluster addresses, with the venv's bin first on PATH.

    Ray job entrypoints (`python -m jobs.X`) resolve `python` through the head's PATH: putting
    this interpreter's directory first makes them run in the same virtualenv.
    """
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, *[p for p in env.get("PATH", "").split(os.pathsep) if p and p != bindir]])
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- Ray


def ray_cli() -> list[str]:
    """The `ray` command of this interpreter's environment."""
    exe = Path(sys.executable).parent / "ray"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ray.scripts.scripts"]


def auth_token() -> str | None:
    """Ray's auth token as Ray finds it: $RAY_AUTH_TOKEN, the file $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        token = path.read_text().strip()
    except OSError:
        return None
    return token or None


def ensure_auth_token() -> str:
    """Return Ray's auth token, generating ~/.ray/auth_token with `ray get-auth-token --generate` if missing."""
    token = auth_token()
    if token:
        return token
    log.info("no Ray auth token yet: generating ~/.ray/auth_token")
    result = subprocess.run(
        [*ray_cli(), "get-auth-token", "--generate"],
        env=base_env({"RAY_AUTH_MODE": "token"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    token = auth_token()
    if result.returncode != 0 or not token:
        raise UserError(
            f"could not generate a Ray auth token (`ray get-auth-token --generate` exit {result.returncode})"
        )
    return token


def ray_auth_headers() -> dict[str, str]:
    """HTTP headers for Ray's dashboard / job API under token authentication."""
    token = auth_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


@dataclass
class RayHeadSpec:
    """Ports and resources of the Ray head."""

    port: int  # GCS
    dashboard_port: int  # dashboard + job submission API
    client_port: int  # Ray Client server (default 10001 would collide between clusters)
    agent_port: int  # dashboard agent HTTP (default 52365 would collide with `ray.init()`)
    num_cpus: int
    temp_dir: Path


def ray_head_command(spec: RayHeadSpec) -> list[str]:
    """`ray start --head --block ...`, everything on loopback, workers on random free ports."""
    return [
        *ray_cli(),
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        HOST,
        "--port",
        str(spec.port),
        "--dashboard-host",
        HOST,
        "--dashboard-port",
        str(spec.dashboard_port),
        "--include-dashboard",
        "true",
        "--ray-client-server-port",
        str(spec.client_port),
        "--dashboard-agent-listen-port",
        str(spec.agent_port),
        "--min-worker-port",
        "0",
        "--max-worker-port",
        "0",
        "--num-cpus",
        str(spec.num_cpus),
        "--temp-dir",
        str(spec.temp_dir),
        "--disable-usage-stats",
        "--log-style",
        "record",
        "--log-color",
        "false",
    ]


def ray_head_env(extra: Mapping[str, str]) -> dict[str, str]:
    """Environment of the head: token auth, loopback node address, plus the cluster's addresses.

    `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` makes Ray use 127.0.0.1 as the node address (Linux would
    otherwise replace `--node-ip-address 127.0.0.1` by the LAN address and listen on all
    interfaces); every process of the cluster inherits it. `RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0`:
    on SIGTERM the head would otherwise wait up to 30 s for a drain (meant for Ray Serve) whenever
    jobs have left idle workers behind.
    """
    return base_env(
        {
            "RAY_AUTH_MODE": "token",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
            **extra,
        }
    )


def launch_ray_head(spec: RayHeadSpec, log_path: Path, extra_env: Mapping[str, str]) -> subprocess.Popen:
    """Start the head detached; it answers on the dashboard port after a few seconds."""
    spec.temp_dir.mkdir(parents=True, exist_ok=True)
    # every process of the cluster inherits its own address: Ray's state API inside them (e.g. Ray Train's
    # placement-group cleaner) would otherwise fail with "multiple active Ray instances" next to another one
    return launch(ray_head_command(spec), log_path, ray_head_env({**extra_env, "RAY_ADDRESS": f"{HOST}:{spec.port}"}))


def ray_version_info(dashboard_url: str) -> dict | None:
    """The dashboard's /api/version answer (ray_version, session_name), or None when it does not answer."""
    body = http_get(f"{dashboard_url}/api/version", ray_auth_headers())
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def ray_healthy(dashboard_url: str, session_name: str | None = None) -> bool:
    """True when the dashboard and job API answer (with the token), and the session is the expected one."""
    info = ray_version_info(dashboard_url)
    if info is None or (session_name and info.get("session_name") != session_name):
        return False
    return http_ok(f"{dashboard_url}/api/jobs/", ray_auth_headers())


def ray_temp_dir(state_dir: Path) -> tuple[Path, bool]:
    """(Ray temp dir, whether it lies outside the state dir).

    Ray puts Unix sockets under `<temp>/session_<date>_<pid>/sockets/`, and a socket path may not
    exceed 107 bytes: a long state dir (pytest's tmp dirs) gets a short dir under /tmp instead.
    """
    inside = state_dir / "ray"
    if len(str(inside)) <= 40:
        return inside, False
    digest = hashlib.sha1(str(state_dir).encode()).hexdigest()[:10]
    return Path("/tmp") / f"cola-ray-{digest}", True


# --------------------------------------------------------------------------- MLflow

MLFLOW_JOBS_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def mlflow_command(port: int, backend_db: Path, artifacts: str) -> list[str]:
    """`mlflow server` on loopback with a SQLite store and proxied artifacts at `artifacts` (dir or s3://)."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        HOST,
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{backend_db}",
        "--artifacts-destination",
        artifacts,
        "--workers",
        "1",
    ]


def launch_mlflow(
    port: int, root: Path, log_path: Path, artifacts: str | None = None, s3_endpoint: str | None = None
) -> subprocess.Popen:
    """Start an MLflow server storing runs in `root/mlflow.db` (artifacts: `root/artifacts` or the given URI)."""
    root.mkdir(parents=True, exist_ok=True)
    artifacts = artifacts or str((root / "artifacts").absolute())
    if not artifacts.startswith("s3://"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    extra = (
        {**S3_CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint, "AWS_ENDPOINT_URL": s3_endpoint}
        if s3_endpoint
        else {}
    )
    # MLflow 3's server otherwise starts a job runner (huey consumers, several processes and ~1 GB
    # RSS) for GenAI jobs this platform never submits
    extra[MLFLOW_JOBS_ENV] = "false"
    return launch(mlflow_command(port, (root / "mlflow.db").absolute(), artifacts), log_path, base_env(extra), cwd=root)


def mlflow_healthy(url: str) -> bool:
    """True when the tracking server answers /health."""
    return http_ok(f"{url}/health")


# --------------------------------------------------------------------------- S3


def s3_command(port: int) -> list[str]:
    """moto's S3-compatible server on loopback."""
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def launch_s3(port: int, log_path: Path) -> subprocess.Popen:
    """Start the local S3 server (state in memory: buckets live as long as the process)."""
    return launch(s3_command(port), log_path, base_env(S3_CREDENTIALS))


def s3_client(endpoint: str):
    """A botocore S3 client for the local endpoint with the dummy credentials (short timeouts, no retries)."""
    import botocore.config
    import botocore.session

    session = botocore.session.get_session()
    config = botocore.config.Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
    return session.create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


def s3_healthy(endpoint: str, bucket: str | None = None) -> bool:
    """True when the server lists buckets (and `bucket`, if given, exists)."""
    try:
        names = {b["Name"] for b in s3_client(endpoint).list_buckets().get("Buckets", [])}
    except Exception:  # connection refused, timeouts, HTTP errors: not healthy
        return False
    return bucket is None or bucket in names


def ensure_bucket(endpoint: str, bucket: str) -> None:
    """Create `bucket` unless it exists."""
    client = s3_client(endpoint)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
