"""The embedded cluster on this machine: a Ray head (token auth on), an MLflow server and, optionally,
a local S3 server, all on 127.0.0.1, started by `python -m jobs.cluster up` and stopped by PID.

    from cola_platform.cluster import ClusterSpec, up, down, status
    result = up(ClusterSpec(state_dir=Path(".cluster"), s3=True))
    result.state.env          # what `.cluster/env` exports (RAY_ADDRESS, MLFLOW_TRACKING_URI, ...)
    down(Path(".cluster"))

The server launchers (`services`) and port helpers (`net`) are reusable on their own, e.g. by tests.
"""

from cola_platform.cluster.connect import ray_driver_address
from cola_platform.cluster.manager import ClusterSpec, ServiceStatus, UpResult, check, client_env, down, status, up
from cola_platform.cluster.net import free_port, port_is_free, wait_http
from cola_platform.cluster.state import DEFAULT_STATE_DIR, ClusterState, ServiceRecord, env_path, read_env_file

__all__ = [
    "ClusterSpec",
    "ClusterState",
    "DEFAULT_STATE_DIR",
    "ServiceRecord",
    "ServiceStatus",
    "UpResult",
    "check",
    "client_env",
    "down",
    "env_path",
    "free_port",
    "port_is_free",
    "ray_driver_address",
    "read_env_file",
    "status",
    "up",
    "wait_http",
]
