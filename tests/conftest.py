"""Session-wide fixtures: real servers on 127.0.0.1 (S3 from moto, MLflow, a local Ray cluster).

Each server starts once per test session on a free port and is stopped by the handle or PID this
file started, never by name. Tests that need one just ask for the fixture.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# the suite never attaches to an embedded cluster the user left running (`make demo` then `make test`):
# its jobs, run from the repository root, would otherwise find `.cluster/state.json` and connect to it
os.environ.setdefault("COLA_CLUSTER_DIR", tempfile.mkdtemp(prefix="cola-test-cluster-"))
# imported after: cola_platform.cluster reads COLA_CLUSTER_DIR when first imported
from cola_platform.cluster.net import free_port, wait_http  # noqa: E402


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on loopback; sets the standard AWS variables so s3fs, pyarrow and Ray workers find it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield endpoint
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh bucket; returns its `s3://name` URI."""
    import s3fs

    name = f"test-{uuid.uuid4().hex[:10]}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir(name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """An MLflow tracking server (sqlite backend, local artifacts) on loopback; yields its URI.

    Started and stopped the way `jobs.cluster` does it (its own session, the whole process tree
    stopped), so a server that never answers leaves no uvicorn worker behind."""
    from cola_platform.cluster.procs import ProcRef, stop_tree
    from cola_platform.cluster.services import launch_mlflow

    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    proc = ProcRef.of(launch_mlflow(port, root, root / "server.log").pid)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{uri}/health", timeout=120)
        yield uri
    finally:
        stop_tree(proc, grace=20)


@pytest.fixture(scope="session")
def ray_cluster(s3_server):
    """One local Ray cluster for the session (2 CPUs, dashboard on; see DESIGN.md §10).

    Depends on the S3 fixture so Ray's workers inherit the S3 endpoint variables.
    """
    import ray

    from cola_platform.cluster.local_instance import start_local_ray

    start_local_ray(
        {"DS_ACCELERATOR": "cpu", "PYTHONPATH": str(REPO)}, num_cpus=2, include_dashboard=True, log_to_driver=False
    )
    yield ray
    ray.shutdown()


def pytest_addoption(parser):
    parser.addoption(
        "--part",
        choices=("all", "ray", "rest"),
        default="all",
        help="run only the tests on the session's Ray cluster (ray) or only the others (rest); "
        "tests/run_suite.py runs the two parts side by side",
    )


def pytest_collection_modifyitems(config, items):
    """`--part ray|rest`: keep the tests that use the `ray_cluster` fixture (directly or through another), or the rest."""
    part = config.getoption("part")
    if part == "all":
        return
    keep, drop = [], []
    for item in items:
        on_ray = "ray_cluster" in getattr(item, "fixturenames", ())
        (keep if on_ray == (part == "ray") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
