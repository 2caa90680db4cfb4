"""`ray job submit` against the embedded cluster (`local_cluster`): token auth, working-dir upload,
drivers that find their cluster, and the data -> train pipeline as submitted jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cola_platform.cluster.services import SCRUBBED_ENV, ray_cli

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _tail(result: subprocess.CompletedProcess, n: int = 3000) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-n:]}\n--- stderr\n{result.stderr[-n:]}"


def test_submit_with_token_only(local_cluster):
    """The documented minimal command: only RAY_AUTH_MODE=token and the HTTP address, plain --working-dir."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["RAY_AUTH_MODE"] = "token"
    cmd = [
        *ray_cli(),
        "job",
        "submit",
        "--address",
        local_cluster.dashboard_url,
        "--working-dir",
        str(REPO),
        "--",
        "python",
        "-c",
        "import cola_core, cola_platform; print('ok')",
    ]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, _tail(result)
    assert "ok" in result.stdout.splitlines(), _tail(result)


PROBE = (
    "import json, os, sys, ray, cola_core, cola_platform; "
    "size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk('.') for f in fs); "
    "ray.init(address='auto'); "
    "print('PROBE ' + json.dumps(dict(module=cola_platform.__file__, cwd=os.getcwd(), python=sys.executable, "
    "venv=os.path.exists('.venv'), git=os.path.exists('.git'), runs=os.path.exists('runs'), nbytes=size, "
    "gcs=ray.get_runtime_context().gcs_address, cpus=ray.cluster_resources().get('CPU'), "
    "ds=os.environ.get('DS_ACCELERATOR'), mlflow=os.environ.get('MLFLOW_TRACKING_URI'), "
    "s3=os.environ.get('AWS_ENDPOINT_URL'))))"
)


def test_job_runs_in_uploaded_copy_and_finds_its_cluster(local_cluster):
    """The job imports the uploaded copy (no .venv/.git), runs the venv's Python, and ray.init('auto') reaches this cluster."""
    result = local_cluster.submit("python", "-c", PROBE)
    assert result.returncode == 0, _tail(result)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("PROBE ")), None)
    assert line, _tail(result)
    probe = json.loads(line[len("PROBE ") :])
    assert "working_dir_files" in probe["module"] and not probe["module"].startswith(str(REPO)), probe
    assert Path(probe["python"]).parent == Path(sys.executable).parent, probe  # the head's venv, first on PATH
    assert not probe["venv"] and not probe["git"], probe
    assert probe["nbytes"] < 20 * 2**20, f"working-dir upload is {probe['nbytes']} bytes: is something big not ignored?"
    assert probe["gcs"] == local_cluster.gcs_address, probe
    assert probe["cpus"] == 2, probe
    assert probe["ds"] == "cpu", probe  # from cluster/runtime_env.yaml
    assert probe["mlflow"] == local_cluster.mlflow_uri and probe["s3"] == local_cluster.s3_endpoint, probe


def _prepare(local_cluster, out: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Submit jobs.prepare_data on storyworld; fall back to a small JSONL corpus if storyworld fails."""
    common = ["--seq-len", "32", "--vocab-size", "300", "--out", str(out)]
    result = local_cluster.submit(
        "python", "-m", "jobs.prepare_data", "--source", "storyworld", "--num-docs", "200", *common
    )
    if result.returncode == 0:
        return result
    warnings.warn(
        f"jobs.prepare_data --source storyworld failed; using a JSONL corpus instead:\n{_tail(result, 800)}",
        stacklevel=2,
    )
    corpus = tmp_path / "corpus.jsonl"
    words = "the fox saw a bird near the river and they walked home together before night fell".split()
    with corpus.open("w") as f:
        for i in range(400):
            f.write(json.dumps({"text": " ".join(words[i % 7 :] + words[: i % 7]) + f" story {i}."}) + "\n")
    return local_cluster.submit("python", "-m", "jobs.prepare_data", "--source", f"file:{corpus}", *common)


def test_prepare_data_then_train(local_cluster, tmp_path):
    """Two submitted jobs: tokenize a corpus into absolute paths, then train 3 AR steps and write result.json."""
    data, run = tmp_path / "data", tmp_path / "run"
    prepared = _prepare(local_cluster, data, tmp_path)
    assert prepared.returncode == 0, _tail(prepared)
    assert (data / "manifest.json").exists(), _tail(prepared)
    trained = local_cluster.submit(
        "python",
        "-m",
        "jobs.train",
        "--family",
        "ar",
        "--preset",
        "tiny",
        "--data",
        str(data),
        "--steps",
        "3",
        "--out",
        str(run),
    )
    assert trained.returncode == 0, _tail(trained)
    result = json.loads((run / "result.json").read_text())
    assert result["family"] == "ar" and result["steps"] == 3, result


def test_every_listener_of_the_cluster_is_on_loopback(local_cluster):
    """Every socket that a process of `jobs.cluster up` (Ray head and everything it started, MLflow, S3)
    listens on is bound to 127.0.0.1 (run after the jobs above, so job workers are included)."""
    from cola_platform.cluster.listeners import listeners

    found = listeners(local_cluster.pids)
    exposed = [str(sock) for sock in found if not sock.loopback]
    assert len(found) >= 4, "found too few listeners: the cluster's process tree was not walked"
    assert not exposed, f"listening beyond loopback: {exposed}"
