"""What the drills share: a work directory, a prepared data set, a throwaway cluster, and running jobs.

Nothing here touches the user's `.cluster/` or `runs/`: every job gets `COLA_CLUSTER_DIR` pointing
at this suite's own state dir (an empty one when no cluster is needed), no inherited cluster
addresses and no `MLFLOW_TRACKING_URI` unless a drill asks for the cluster's. The cluster is started
on first use (`jobs.cluster up --s3` on free ports) and stopped by `close()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, cast

from cola_platform.cluster.scratch import REPO, ScratchCluster, start_scratch_cluster, stop_scratch_cluster
from cola_platform.cluster.services import SCRUBBED_ENV
from cola_platform.cluster.state import STATE_DIR_ENV

log = logging.getLogger(__name__)
ISOLATED_ENV = (*SCRUBBED_ENV, "MLFLOW_TRACKING_URI", "COLA_STORAGE", "COLA_WAIT_FOR_WORKERS")
"""Variables of the caller's shell that would point a drill's job at somebody else's servers."""


@dataclass
class JobRun:
    """A finished `python -m jobs.X` run."""

    args: list[str]
    exit_code: int | None
    """None when it was still running at its timeout (it is killed then)."""
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        """The `error: ...` lines of its stderr."""
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]

    @property
    def error_line(self) -> str:
        """Its first `error: ...` line ('' when none)."""
        return next(iter(self.error_lines), "")

    @property
    def last_line(self) -> str:
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    @property
    def lines_after_error(self) -> int:
        """Non-empty stderr lines printed after its first `error:` line (Ray's log forwarding, tracebacks)."""
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        return len(lines) - 1 - lines.index(self.error_line) if self.error_line else 0

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr

    def one_line_error(self, fragment: str) -> bool:
        """Exit 2 with exactly one `error:` line, containing `fragment`, and no traceback anywhere in stderr."""
        return self.exit_code == 2 and len(self.error_lines) == 1 and fragment in self.error_line and not self.traceback

    def figures(self) -> dict[str, object]:
        """Exit code, seconds, error line and what followed it: the evidence a drill keeps of a job."""
        return {
            "exit_code": self.exit_code,
            "seconds": self.seconds,
            "error": self.error_line,
            "lines_after_error": self.lines_after_error,
        }

    def brief(self) -> str:
        """`exit N in S s` and its error line (or, failing without one, its last stderr line) for the table."""
        code = "still running at its timeout (killed)" if self.exit_code is None else f"exit {self.exit_code}"
        line = self.error_line or (self.last_line if self.exit_code != 0 else "")
        return f"{code} in {self.seconds:.1f} s" + (f": `{line[:240]}`" if line else "")


class FaultContext:
    """Work directory, data, cluster and job runner of one fault-suite run."""

    def __init__(self, workdir: Path | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="cola-faults-")).absolute()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._data: Path | None = None
        self._cluster: ScratchCluster | None = None
        self._cluster_error = ""
        self._procs: list[subprocess.Popen] = []
        self._jobs = 0

    # ------------------------------------------------------------------ places and data
    def path(self, name: str) -> Path:
        """A fresh (non-existing) path under the work directory."""
        path = self.workdir / name
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return path

    @property
    def data(self) -> Path:
        """The suite's tiny prepared data set (synthetic corpus, 32-token sequences), prepared once."""
        if self._data is None:
            from cola_platform.data.synthetic import prepare_synthetic

            out = self.workdir / "data"
            if not (out / "manifest.json").is_file():
                prepare_synthetic(str(out))
            self._data = out
        return self._data

    def data_copy(self, name: str) -> Path:
        """A private copy of the data set, for a drill to damage."""
        copy = self.path(name)
        shutil.copytree(self.data, copy)
        return copy

    # ------------------------------------------------------------------ cluster
    @property
    def cluster(self) -> ScratchCluster:
        """The suite's own embedded cluster (Ray head with 2 CPUs, MLflow, S3), started on first use."""
        if self._cluster is None:
            if self._cluster_error:  # do not retry a start that failed: every later drill would wait again
                raise RuntimeError(self._cluster_error)
            log.info("starting the fault suite's own cluster in %s", self.workdir / "cluster")
            try:
                self._cluster = start_scratch_cluster(self.workdir / "cluster")
            except RuntimeError as err:
                self._cluster_error = str(err)
                raise
        return self._cluster

    def env(self, cluster: bool = False, **extra: str) -> dict[str, str]:
        """Environment of a drill's job: the cluster's (sourced env file) or none at all, plus `extra`."""
        if cluster:
            base = self.cluster.env()
        else:
            base = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV}
            base[STATE_DIR_ENV] = str(self.workdir / "no-cluster")
        return {**base, "PYTHONPATH": str(REPO), "DS_ACCELERATOR": "cpu", **extra}

    # ------------------------------------------------------------------ jobs
    def job(self, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> JobRun:
        """Run `python -m ARGS` from the repository root and wait (killed after `timeout` seconds); its
        output is also kept in WORKDIR/logs/NN-MODULE.{out,err}."""
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", *args],
                cwd=REPO,
                env=env or self.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as expired:
            code = None
            out, err = (_text(expired.stdout), _text(expired.stderr))
        self._jobs += 1
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        stem = f"{self._jobs:02d}-{args[0]}"
        (logs / f"{stem}.out").write_text(out)
        (logs / f"{stem}.err").write_text(err)
        return JobRun(list(args), code, out, err, round(time.perf_counter() - start, 2))

    def job_log(self, name: str) -> Path:
        """The stderr log of background job `name` (WORKDIR/logs/NAME.err)."""
        return self.workdir / "logs" / f"{name}.err"

    def start_job(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start `python -m ARGS` in the background, output to WORKDIR/logs/NAME.{out,err}."""
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{name}.out", "w") as out, open(self.job_log(name), "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args], cwd=REPO, env=env or self.env(), stdout=out, stderr=err
            )
        self._procs.append(proc)
        return proc

    def finish_job(self, name: str, proc: subprocess.Popen, started: float, timeout: float = 900) -> JobRun:
        """Wait for a job from `start_job` (killed after `timeout` seconds) and read its output."""
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        return JobRun(
            list(map(str, cast("list[str]", proc.args)[2:])),  # `start_job` passes a list
            code,
            (self.workdir / "logs" / f"{name}.out").read_text(),
            self.job_log(name).read_text(),
            round(time.perf_counter() - started, 2),
        )

    @contextlib.contextmanager
    def in_process(self) -> Iterator[None]:
        """For drills that train in this process: no MLflow server from the caller's environment."""
        saved = {k: os.environ.pop(k) for k in ISOLATED_ENV if k in os.environ}
        try:
            yield
        finally:
            os.environ.update(saved)

    def close(self) -> None:
        """Kill jobs the drills left running, stop the cluster (only the processes it recorded)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self._cluster is not None:
            down = stop_scratch_cluster(self._cluster.state_dir)
            if down.returncode != 0:
                log.warning("jobs.cluster down failed (%d): %s", down.returncode, down.stderr[-2000:])
            self._cluster = None


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


TINY_SETTINGS = {
    "train.micro_batch_size": 4,
    "train.eval_batches": 1,
    "train.log_every": 1,
    "train.eval_every": 0,
    "data.shuffle": "false",
    "optim.warmup_steps": 2,
}
"""Config overrides of every drill's tiny AR run (evaluation only at the end, every step logged)."""


def train_cmd(data: Path, out: Path, steps: int, *sets: str, workers: int = 0, name: str = "") -> list[str]:
    """`jobs.train` arguments of a tiny AR run (`workers` Ray Train workers under ZeRO-2, or in-process)."""
    args = [
        "jobs.train",
        "--family",
        "ar",
        "--preset",
        "tiny",
        "--data",
        str(data),
        "--steps",
        str(steps),
        "--out",
        str(out),
        "--set",
        "train.threads=1",
    ]
    if workers:
        args += ["--workers", str(workers), "--zero", "2"]
    if name:
        args += ["--name", name]
    for key, value in TINY_SETTINGS.items():
        args += ["--set", f"{key}={value}"]
    for setting in sets:
        args += ["--set", setting]
    return args
