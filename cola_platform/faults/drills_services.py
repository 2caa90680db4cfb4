"""Drills on the servers of the suite's own cluster: Ray token auth, loopback listeners, secrets and
MLflow runs left behind by killed jobs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Iterator

from cola_platform.faults.context import FaultContext, train_cmd
from cola_platform.faults.evidence import EXPERIMENT, http_status, mlflow_runs, read_result
from cola_platform.faults.inject import wait_for_step
from cola_platform.faults.suite import Probe

REFUSED = (401, 403)


def token_auth(ctx: FaultContext, probe: Probe) -> None:
    """The Ray job API of the cluster asked without a token, with a wrong one, and with the right one."""
    from cola_platform.cluster.services import ray_auth_headers

    url = ctx.cluster.dashboard_url.rstrip("/") + "/api/jobs/"
    codes = {
        "no token": http_status(url),
        "wrong token": http_status(url, {"Authorization": "Bearer wrong-0123456789"}),
        "the token": http_status(url, ray_auth_headers()),
    }
    probe.record(url=url, status_codes=codes)
    probe.expect("refused without a token (401/403)", codes["no token"] in REFUSED, codes["no token"])
    probe.expect("refused with a wrong token (401/403)", codes["wrong token"] in REFUSED, codes["wrong token"])
    probe.expect("answered with the token (200)", codes["the token"] == 200, codes["the token"])
    probe.observe("GET /api/jobs/: " + ", ".join(f"{k} -> {v}" for k, v in codes.items()))


def loopback_listeners(ctx: FaultContext, probe: Probe) -> None:
    """Every listening socket of the cluster's process trees (run last: job workers included)."""
    from cola_platform.cluster.listeners import listeners

    found = listeners(ctx.cluster.pids)
    exposed = [str(s) for s in found if not s.loopback]
    processes = len({s.pid for s in found})
    probe.record(listeners=[str(s) for s in found], exposed=exposed)
    probe.expect("the walk found the servers' sockets (at least 4)", len(found) >= 4, f"{len(found)} sockets")
    probe.expect("every one is bound to loopback", not exposed, exposed or "none beyond 127.0.0.1")
    probe.observe(
        f"{len(found)} listening sockets of {processes} processes (Ray head tree, MLflow, S3): "
        + (f"exposed: {exposed}" if exposed else "all on 127.0.0.1")
    )


def _files_holding(root: Path, secrets: list[str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            payload = path.read_bytes()
            hits += [f"{path.relative_to(root)}" for s in secrets if s.encode() in payload]
    return hits


def _masked(line: str, secrets: list[str]) -> str:
    for i, secret in enumerate(secrets):
        line = line.replace(secret, f"<SECRET{i}>")
    return line[:300]


@contextlib.contextmanager
def _quiet_downloads() -> Iterator[None]:
    old = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR") if old is None else os.environ.update(
            MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=old
        )


def secrets_redacted(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.train` with a password inside its tracking URI and a secret-named variable in its environment."""
    from cola_platform.tracking.mlflow_tracker import mlflow_client

    password, token = f"pw-{uuid.uuid4().hex}", f"sk-cola-{uuid.uuid4().hex}"
    host = ctx.cluster.mlflow_uri.split("://", 1)[1]
    out, name = ctx.path("secrets"), f"fault-secrets-{uuid.uuid4().hex[:6]}"
    run = ctx.job(
        *train_cmd(
            ctx.data,
            out,
            4,
            f"run.tracking_uri=http://alice:{password}@{host}",
            f"run.experiment={EXPERIMENT}",
            name=name,
        ),
        env=ctx.env(cluster=True, COLA_FAULT_API_TOKEN=token),
    )
    secrets = [password, token]
    leaks = [f"run dir: {f}" for f in _files_holding(out, secrets)]
    leaks += [
        f"job output: {_masked(line, secrets)}"
        for line in (run.stdout + run.stderr).splitlines()
        if any(s in line for s in secrets)
    ]
    runs = mlflow_runs(ctx.cluster.mlflow_uri, name)
    artifacts = ctx.path("secrets-artifacts")
    artifacts.mkdir()
    if runs:
        client = mlflow_client(ctx.cluster.mlflow_uri)
        data = client.get_run(runs[0][0]).data
        leaks += [
            f"MLflow {kind}"
            for kind, values in (("params", data.params), ("tags", data.tags))
            if any(s in json.dumps(values) for s in secrets)
        ]
        with _quiet_downloads():
            for artifact in ("config", "result.json", "metrics"):
                client.download_artifacts(runs[0][0], artifact, str(artifacts))
        leaks += [f"MLflow artifact {f}" for f in _files_holding(artifacts, secrets)]
    scanned = sum(1 for p in [*out.rglob("*"), *artifacts.rglob("*")] if p.is_file())
    probe.record(exit_code=run.exit_code, mlflow_runs=runs, leaks=leaks, files_scanned=scanned)
    probe.expect(
        "the run trains and logs to MLflow through the URI with credentials",
        run.exit_code == 0 and len(runs) == 1 and runs[0][1] == "FINISHED",
        f"{run.brief()}; runs {runs}",
    )
    probe.expect(
        "neither the password nor the token appears in the run directory, the job's output, MLflow "
        "params, tags or artifacts",
        not leaks,
        leaks or "nowhere",
    )
    probe.observe(
        f"exit {run.exit_code}; scanned {scanned} files (run dir + downloaded MLflow artifacts), the job's "
        f"output, MLflow params and tags: " + (f"leaks {leaks}" if leaks else "no password, no token")
    )


def stale_mlflow_run(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.train` (in process, MLflow on) SIGKILLed; its run directory deleted; the same command re-run."""
    out, name, steps = ctx.path("stale-mlflow"), f"fault-stale-{uuid.uuid4().hex[:6]}", 120
    cmd = train_cmd(ctx.data, out, steps, "train.ckpt_every=10", f"run.experiment={EXPERIMENT}", name=name)
    env = ctx.env(cluster=True)
    proc = ctx.start_job("stale-mlflow", *cmd, env=env)
    seen = wait_for_step(out / "metrics.jsonl", 15, proc, 900, log=ctx.job_log("stale-mlflow"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = mlflow_runs(ctx.cluster.mlflow_uri, name)
    probe.expect(
        "the SIGKILLed job left its MLflow run RUNNING (the fault happened)",
        [status for _, status in killed] == ["RUNNING"],
        killed,
    )
    shutil.rmtree(out)
    start = time.perf_counter()
    rerun = ctx.job(*cmd, env=env)
    after = dict(mlflow_runs(ctx.cluster.mlflow_uri, name))
    old = killed[0][0] if killed else ""
    new = [status for run_id, status in after.items() if run_id != old]
    probe.record(
        killed_after_step=seen,
        runs_after_kill=killed,
        runs_after_rerun=after,
        exit_code=rerun.exit_code,
        rerun_seconds=round(time.perf_counter() - start, 1),
        steps=read_result(out).get("steps"),
    )
    probe.expect(
        "the re-run finishes in a new MLflow run",
        rerun.exit_code == 0 and new == ["FINISHED"],
        f"{rerun.brief()}; new runs {new}",
    )
    probe.expect("the killed run is ended KILLED", after.get(old) == "KILLED", f"killed run {after.get(old)}")
    probe.expect("no run of that name is left RUNNING", "RUNNING" not in after.values(), after)
    probe.observe(
        f"killed after step {seen}: MLflow run {killed[0][1] if killed else None}; after the re-run: killed "
        f"run {after.get(old)}, new run {new[0] if new else None}"
    )
