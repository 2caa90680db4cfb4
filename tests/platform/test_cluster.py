"""`python -m jobs.cluster up|status|down` with real servers on loopback (no mocks).

Each test gets its own state dir and free ports, so it coexists with the session's other servers
and with other test sessions on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cola_platform.cluster import ClusterState, free_port, read_env_file
from cola_platform.cluster.net import http_ok
from cola_platform.cluster.procs import ProcRef, launch, stop_tree
from cola_platform.cluster.scratch import cluster_cli
from cola_platform.cluster.services import SCRUBBED_ENV, auth_token, ray_auth_headers, s3_client
from cola_platform.cluster.state import write_env_file

REPO = Path(__file__).resolve().parents[2]
RAY_KEYS = {
    "RAY_ADDRESS",
    "RAY_AUTH_MODE",
    "COLA_RAY_GCS_ADDRESS",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",
    "MLFLOW_TRACKING_URI",
    "COLA_PROJECT_ROOT",
}
S3_KEYS = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "COLA_S3_BUCKET"}


def port_args(s3: bool) -> list[str]:
    """Free, distinct ports for every server."""
    taken: set[int] = set()
    for _ in range(4):
        taken.add(free_port(taken))
    ray, dash, mlflow, s3_port = sorted(taken)
    args = ["--ray-port", str(ray), "--dashboard-port", str(dash), "--mlflow-port", str(mlflow), "--num-cpus", "1"]
    return args + (["--s3", "--s3-port", str(s3_port)] if s3 else [])


def recorded_refs(state: ClusterState) -> list[ProcRef]:
    """Every process the state file records (launched processes and their children)."""
    return [ref for rec in state.ordered() for ref in [rec.ref, *rec.child_refs()]]


def check_env_file(state_dir: Path, s3: bool) -> dict[str, str]:
    """The env file has exactly the expected keys, loopback addresses and no secret but the dummy S3 keys."""
    text = (state_dir / "env").read_text()
    env = read_env_file(state_dir / "env")
    assert set(env) == RAY_KEYS | (S3_KEYS if s3 else set())
    assert env["RAY_ADDRESS"].startswith("http://127.0.0.1:") and env["RAY_AUTH_MODE"] == "token"
    assert env["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    token = auth_token()
    assert token and token not in text and token not in (state_dir / "state.json").read_text()
    secrets = {k for k in env if any(w in k for w in ("SECRET", "TOKEN", "PASSWORD", "KEY"))}
    assert secrets == ({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} if s3 else set())
    if s3:
        assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    return env


def log_mlflow_run(tracking_uri: str) -> str:
    """Create an experiment and a run with a metric and a text artifact; return the run id."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp_id = client.create_experiment(f"cluster-test-{time.time_ns()}")
    run_id = client.create_run(exp_id).info.run_id
    client.log_metric(run_id, "loss", 1.5, step=1)
    client.log_text(run_id, "hello", "notes/hello.txt")
    client.set_terminated(run_id)
    run = client.get_run(run_id)
    assert run.data.metrics["loss"] == 1.5
    assert [a.path for a in client.list_artifacts(run_id, "notes")] == ["notes/hello.txt"]
    return run_id


def assert_stopped_exactly(state: ClusterState, canary: subprocess.Popen) -> None:
    """After `down`: every recorded process is gone; an unrelated process we started is not."""
    deadline = time.monotonic() + 30
    while any(r.alive() for r in recorded_refs(state)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [r.pid for r in recorded_refs(state) if r.alive()]
    assert canary.poll() is None, "down killed a process it did not start"


@pytest.mark.slow
@pytest.mark.ray
def test_up_status_down_without_s3(tmp_path):
    state_dir = tmp_path / "cluster"
    up = cluster_cli("up", "--state-dir", str(state_dir), *port_args(s3=False))
    canary = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        state = ClusterState.load(state_dir)
        assert state is not None and state.phase == "up" and sorted(state.services) == ["mlflow", "ray"]
        assert all(r.alive() for r in recorded_refs(state))
        env = check_env_file(state_dir, s3=False)

        status = cluster_cli("status", "--state-dir", str(state_dir))
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("healthy: yes") == 2

        # Ray: token auth is on (401 without the token), the job API answers with it.
        ray_url = env["RAY_ADDRESS"]
        assert not http_ok(f"{ray_url}/api/version") and http_ok(f"{ray_url}/api/version", ray_auth_headers())
        assert http_ok(f"{env['MLFLOW_TRACKING_URI']}/health")
        run_id = log_mlflow_run(env["MLFLOW_TRACKING_URI"])
        assert list((state_dir / "mlflow" / "artifacts").rglob("hello.txt")), (
            f"artifact of run {run_id} not stored locally"
        )

        # A driver started by hand in a shell that sourced the env file (RAY_ADDRESS is the HTTP job API).
        program = (
            "import ray; from cola_platform.cluster import ray_driver_address; a = ray_driver_address(); "
            "ray.init(address=a, log_to_driver=False); print('DRIVER', a, ray.get(ray.remote(lambda: 41 + 1).remote()))"
        )
        shell_env = {**{k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}, **env}
        driver = subprocess.run(
            [sys.executable, "-c", program], cwd=REPO, env=shell_env, capture_output=True, text=True, timeout=300
        )
        assert f"DRIVER {env['COLA_RAY_GCS_ADDRESS']} 42" in driver.stdout, driver.stderr[-3000:]

        again = cluster_cli("up", "--state-dir", str(state_dir), *port_args(s3=False))
        assert again.returncode == 0 and "already up" in again.stdout, again.stderr[-2000:]
        assert ClusterState.load(state_dir).services["ray"].pid == state.services["ray"].pid

        down = cluster_cli("down", "--state-dir", str(state_dir))
        assert down.returncode == 0, down.stderr[-2000:]
        assert_stopped_exactly(state, canary)
        assert not (state_dir / "env").exists() and not (state_dir / "state.json").exists()
        after = cluster_cli("status", "--state-dir", str(state_dir))
        assert after.returncode != 0
        assert cluster_cli("down", "--state-dir", str(state_dir)).returncode == 0  # nothing up: still exit 0
    finally:
        canary.kill()
        canary.wait()
        cluster_cli("down", "--state-dir", str(state_dir))


@pytest.mark.slow
@pytest.mark.ray
def test_up_with_s3(tmp_path):
    state_dir = tmp_path / "cluster-s3"
    up = cluster_cli("up", "--state-dir", str(state_dir), *port_args(s3=True))
    canary = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        state = ClusterState.load(state_dir)
        assert sorted(state.services) == ["mlflow", "ray", "s3"]
        env = check_env_file(state_dir, s3=True)
        status = cluster_cli("status", "--state-dir", str(state_dir), "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["up"] is True, status.stdout

        s3 = s3_client(env["AWS_ENDPOINT_URL"])
        s3.put_object(Bucket=env["COLA_S3_BUCKET"], Key="probe/hello.txt", Body=b"hello s3")
        assert s3.get_object(Bucket=env["COLA_S3_BUCKET"], Key="probe/hello.txt")["Body"].read() == b"hello s3"
        log_mlflow_run(env["MLFLOW_TRACKING_URI"])  # artifacts are proxied by the server into the bucket
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=env["COLA_S3_BUCKET"], Prefix="mlflow/").get("Contents", [])
        ]
        assert any(k.endswith("notes/hello.txt") for k in keys), keys

        # A recorded server that died is reported, with a non-zero exit; `down` still cleans up.
        os.kill(state.services["s3"].pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while state.services["s3"].ref.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        status = cluster_cli("status", "--state-dir", str(state_dir), "--json")
        report = {s["name"]: s for s in json.loads(status.stdout)["services"]}
        assert status.returncode == 1 and not report["s3"]["healthy"] and report["ray"]["healthy"], status.stdout

        down = cluster_cli("down", "--state-dir", str(state_dir))
        assert down.returncode == 0, down.stderr[-2000:]
        assert_stopped_exactly(state, canary)
        assert cluster_cli("status", "--state-dir", str(state_dir)).returncode != 0
    finally:
        canary.kill()
        canary.wait()
        cluster_cli("down", "--state-dir", str(state_dir))


def test_busy_port_is_a_one_line_error(tmp_path):
    state_dir = tmp_path / "busy"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        args = port_args(s3=False)
        args[args.index("--mlflow-port") + 1] = str(busy)
        result = cluster_cli("up", "--state-dir", str(state_dir), *args, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(busy) in lines[0], result.stderr
    assert not (state_dir / "state.json").exists() and not (state_dir / "env").exists()


def test_status_and_down_when_nothing_is_up(tmp_path):
    status = cluster_cli("status", "--state-dir", str(tmp_path / "none"), timeout=120)
    assert status.returncode == 1 and "no cluster" in status.stdout
    down = cluster_cli("down", "--state-dir", str(tmp_path / "none"), timeout=120)
    assert down.returncode == 0 and "nothing is up" in down.stdout


def test_env_file_round_trip(tmp_path):
    env = {"RAY_ADDRESS": "http://127.0.0.1:8265", "ODD": "a b'c$d"}
    write_env_file(tmp_path / "env", env, "header line")
    assert read_env_file(tmp_path / "env") == env
    out = subprocess.run(
        ["bash", "-c", f'source {tmp_path / "env"} && printf %s "$ODD"'], capture_output=True, text=True
    )
    assert out.stdout == env["ODD"]


def test_stop_tree_stops_the_tree_and_nothing_else(tmp_path):
    """A launched process and its child are stopped; a sibling we also started survives; a reused PID is not signalled."""
    spawn_child = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
    )
    root = launch([sys.executable, "-c", spawn_child], tmp_path / "root.log", dict(os.environ))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        ref = ProcRef.of(root.pid)
        deadline = time.monotonic() + 60
        while not ref.process().children() and time.monotonic() < deadline:
            time.sleep(0.2)
        child = ProcRef.of(ref.process().children()[0].pid)
        assert not ProcRef(other.pid, ref.create_time - 1000).alive()  # wrong start time: not "our" process
        assert stop_tree(ref, grace=10)
        root.wait(timeout=10)
        assert not child.alive() and other.poll() is None
    finally:
        other.kill()
        other.wait()
