"""`up`, `down` and `status` of the embedded cluster (Ray head + MLflow server [+ S3]) on this machine."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from cola_platform.cluster import services as svc
from cola_platform.cluster.net import HOST, check_ports_free, free_port, wait_until
from cola_platform.cluster.procs import ProcRef, descendants, exit_reason, stop_tree
from cola_platform.cluster.state import (
    DEFAULT_STATE_DIR,
    ClusterState,
    ServiceRecord,
    env_path,
    state_path,
    write_env_file,
)
from cola_platform.errors import UserError
from cola_platform.paths import PROJECT_ROOT_ENV

log = logging.getLogger(__name__)


@dataclass
class ClusterSpec:
    """What `up` starts; ports are on 127.0.0.1."""

    state_dir: Path = Path(DEFAULT_STATE_DIR)
    s3: bool = False  # also start a local S3 server (moto) and use it for MLflow artifacts
    ray_port: int = 6379  # Ray GCS
    dashboard_port: int = 8265  # Ray dashboard + job submission API (RAY_ADDRESS)
    mlflow_port: int = 5000
    s3_port: int = 9000
    num_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    bucket: str = "cola"  # default bucket (COLA_S3_BUCKET) with --s3
    timeout: float = 180.0  # seconds to wait for each server (MLflow needs ~20 s on 2 cores)


@dataclass
class ServiceStatus:
    """One recorded service as `status` sees it."""

    name: str
    address: str
    pid: int
    alive: bool
    healthy: bool


@dataclass
class UpResult:
    """The running cluster and whether it was already up."""

    state: ClusterState
    already_up: bool


def _locked(state_dir: Path) -> FileLock:
    """Serialise `up`/`down` on one state dir (a second `up` waits, then finds the cluster up)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(state_dir / ".lock"))


def up(spec: ClusterSpec) -> UpResult:
    """Start the cluster (or report the running one), wait until every server answers, write state + env file."""
    state_dir = spec.state_dir.absolute()
    with _locked(state_dir):
        existing = ClusterState.load(state_dir)
        if existing is not None:
            if existing.phase == "up" and all(s.healthy for s in check(existing)):
                if spec.s3 and "s3" not in existing.services:
                    raise UserError(
                        f"the cluster in {state_dir} is up without S3; run `python -m jobs.cluster down` first"
                    )
                return UpResult(existing, already_up=True)
            log.warning("%s records a cluster that is not (fully) up: stopping what is left of it", state_dir)
            _stop_and_forget(existing)
        ports = {
            "Ray GCS": (spec.ray_port, "--ray-port"),
            "Ray dashboard": (spec.dashboard_port, "--dashboard-port"),
            "MLflow server": (spec.mlflow_port, "--mlflow-port"),
        }
        if spec.s3:
            ports["S3 server"] = (spec.s3_port, "--s3-port")
        check_ports_free(ports)
        if spec.num_cpus < 1:
            raise UserError("--num-cpus must be at least 1")
        svc.ensure_auth_token()
        state = ClusterState(
            state_dir=str(state_dir), phase="starting", started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z")
        )
        try:
            _start_all(spec, state)
        except BaseException:
            _stop_and_forget(state, keep_ray_logs=True)
            raise
        return UpResult(state, already_up=False)


def _start_all(spec: ClusterSpec, state: ClusterState) -> None:
    """Launch S3, MLflow and Ray together (recording each PID at once), then wait for each in turn."""
    state_dir = Path(state.state_dir)
    logs = state_dir / "logs"
    s3_url = f"http://{HOST}:{spec.s3_port}"
    mlflow_url = f"http://{HOST}:{spec.mlflow_port}"
    procs: dict[str, subprocess.Popen] = {}
    if spec.s3:
        procs["s3"] = svc.launch_s3(spec.s3_port, logs / "s3.log")
        _record(state, "s3", procs["s3"], s3_url, logs / "s3.log", {"s3": spec.s3_port}, {"bucket": spec.bucket})
    artifacts = f"s3://{spec.bucket}/mlflow" if spec.s3 else None
    procs["mlflow"] = svc.launch_mlflow(
        spec.mlflow_port, state_dir / "mlflow", logs / "mlflow.log", artifacts, s3_url if spec.s3 else None
    )
    _record(
        state,
        "mlflow",
        procs["mlflow"],
        mlflow_url,
        logs / "mlflow.log",
        {"http": spec.mlflow_port},
        {"artifacts": artifacts or str(state_dir / "mlflow" / "artifacts")},
    )
    procs["ray"] = _launch_ray(spec, state, client_env(spec, with_ray=False))
    for name in ("s3", "ray", "mlflow"):
        if name in procs:
            _wait_ready(spec, state.services[name], procs[name])
    state.env = client_env(spec)
    state.phase = "up"
    state.save()
    write_env_file(
        env_path(state_dir),
        state.env,
        f"Cola embedded cluster, written by `python -m jobs.cluster up` at {state.started_at}.\n"
        f"Load it with: source {env_path(state_dir)}    (state: {state_path(state_dir)})",
    )


def _launch_ray(spec: ClusterSpec, state: ClusterState, extra_env: dict[str, str]) -> subprocess.Popen:
    temp_dir, owned = svc.ray_temp_dir(Path(state.state_dir))
    taken = {spec.ray_port, spec.dashboard_port, spec.mlflow_port, spec.s3_port}
    client_port = free_port(taken)
    agent_port = free_port(taken | {client_port})
    head = svc.RayHeadSpec(
        port=spec.ray_port,
        dashboard_port=spec.dashboard_port,
        client_port=client_port,
        agent_port=agent_port,
        num_cpus=spec.num_cpus,
        temp_dir=temp_dir,
    )
    log_path = Path(state.state_dir) / "logs" / "ray.log"
    proc = svc.launch_ray_head(head, log_path, extra_env)
    state.ray_temp_dir, state.ray_temp_dir_owned = str(temp_dir), owned
    ports = {"gcs": spec.ray_port, "dashboard": spec.dashboard_port, "client": client_port, "agent": agent_port}
    _record(
        state,
        "ray",
        proc,
        f"http://{HOST}:{spec.dashboard_port}",
        log_path,
        ports,
        {"gcs_address": f"{HOST}:{spec.ray_port}", "num_cpus": spec.num_cpus, "temp_dir": str(temp_dir)},
    )
    return proc


def _record(
    state: ClusterState,
    name: str,
    proc: subprocess.Popen,
    address: str,
    log_path: Path,
    ports: dict[str, int],
    extra: dict,
) -> None:
    ref = ProcRef.of(proc.pid)
    state.services[name] = ServiceRecord(
        name=name,
        address=address,
        pid=ref.pid,
        create_time=ref.create_time,
        log=str(log_path),
        ports=ports,
        extra=extra,
    )
    state.save()


_TITLES = {"ray": "the Ray head", "mlflow": "the MLflow server", "s3": "the S3 server"}


def _wait_ready(spec: ClusterSpec, rec: ServiceRecord, proc: subprocess.Popen) -> None:
    """Wait until the service answers; afterwards record its child processes (and Ray's session)."""
    checks = {
        "ray": lambda: svc.ray_healthy(rec.address),
        "mlflow": lambda: svc.mlflow_healthy(rec.address),
        "s3": lambda: svc.s3_healthy(rec.address),
    }
    title = _TITLES[rec.name]
    try:
        wait_until(
            checks[rec.name],
            spec.timeout,
            what=f"{title} at {rec.address}",
            abort=lambda: exit_reason(proc, Path(rec.log)),
        )
    except (TimeoutError, RuntimeError) as err:
        raise UserError(f"{err} (log: {rec.log})") from None
    if rec.name == "s3":
        svc.ensure_bucket(rec.address, spec.bucket)
    if rec.name == "ray":
        info = svc.ray_version_info(rec.address) or {}
        rec.extra.update(session_name=info.get("session_name", ""), ray_version=info.get("ray_version", ""))
    rec.children = [{"pid": c.pid, "create_time": c.create_time} for c in descendants(rec.ref)]
    log.info("%s answers at %s (pid %d)", title, rec.address, rec.pid)


def client_env(spec: ClusterSpec, with_ray: bool = True) -> dict[str, str]:
    """The variables of the env file; without Ray's own ones, what the Ray head passes to every job."""
    env: dict[str, str] = {}
    if with_ray:
        env.update(
            RAY_ADDRESS=f"http://{HOST}:{spec.dashboard_port}",
            RAY_AUTH_MODE="token",
            COLA_RAY_GCS_ADDRESS=f"{HOST}:{spec.ray_port}",
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        )
    env["MLFLOW_TRACKING_URI"] = f"http://{HOST}:{spec.mlflow_port}"
    env[PROJECT_ROOT_ENV] = str(Path.cwd().absolute())
    if spec.s3:
        env.update(AWS_ENDPOINT_URL=f"http://{HOST}:{spec.s3_port}", **svc.S3_CREDENTIALS, COLA_S3_BUCKET=spec.bucket)
    return env


def check(state: ClusterState) -> list[ServiceStatus]:
    """Probe every recorded service: its process alive (same PID and start time) and answering."""
    out = []
    for rec in state.ordered():
        alive = rec.ref.alive()
        if rec.name == "ray":
            healthy = alive and svc.ray_healthy(rec.address, rec.extra.get("session_name") or None)
        elif rec.name == "mlflow":
            healthy = alive and svc.mlflow_healthy(rec.address)
        else:
            healthy = alive and svc.s3_healthy(rec.address, rec.extra.get("bucket"))
        out.append(ServiceStatus(rec.name, rec.address, rec.pid, alive, healthy))
    return out


def status(state_dir: Path = Path(DEFAULT_STATE_DIR)) -> tuple[ClusterState | None, list[ServiceStatus]]:
    """The recorded state (None when nothing is recorded) and each service's health."""
    state = ClusterState.load(state_dir.absolute())
    return state, (check(state) if state else [])


def down(state_dir: Path = Path(DEFAULT_STATE_DIR)) -> list[ServiceRecord]:
    """Stop what `up` recorded (by PID, children included), remove the env and state files; returns what was recorded."""
    state_dir = state_dir.absolute()
    if not state_dir.exists():
        return []
    with _locked(state_dir):
        state = ClusterState.load(state_dir)
        if state is None:
            env_path(state_dir).unlink(missing_ok=True)
            return []
        _stop_and_forget(state)
        return state.ordered()


def _stop_and_forget(state: ClusterState, keep_ray_logs: bool = False) -> None:
    """Stop the recorded services in reverse start order, then delete the env and state files."""
    env_path(state.state_dir).unlink(missing_ok=True)
    for rec in reversed(state.ordered()):
        gone = stop_tree(rec.ref, rec.child_refs())
        log.info(
            "stopped %s (pid %d)%s", _TITLES[rec.name], rec.pid, "" if gone else ": some processes survived SIGKILL"
        )
    state_path(state.state_dir).unlink(missing_ok=True)
    if state.ray_temp_dir_owned and state.ray_temp_dir and not keep_ray_logs:
        shutil.rmtree(state.ray_temp_dir, ignore_errors=True)
