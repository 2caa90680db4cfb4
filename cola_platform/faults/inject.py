"""Injecting faults and watching a run: damaged files, interrupts at a step, Ray Train worker processes.

Shared by the fault drills and the tests that check the same claims.
"""

from __future__ import annotations

import contextlib
import logging
import re
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

from cola_platform.cluster.net import wait_until
from cola_platform.training.run_dir import read_metrics


def flip_middle_byte(path: Path) -> int:
    """Invert the byte in the middle of `path` (same size, wrong content); returns its offset."""
    payload = bytearray(Path(path).read_bytes())
    offset = len(payload) // 2
    payload[offset] ^= 0xFF
    Path(path).write_bytes(bytes(payload))
    return offset


def overwrite_middle(path: Path, nbytes: int = 4096) -> int:
    """Overwrite `nbytes` in the middle of `path` with zeros, in place (same size); returns the offset."""
    payload = bytearray(Path(path).read_bytes())
    offset = len(payload) // 2
    payload[offset : offset + nbytes] = b"\0" * min(nbytes, len(payload) - offset)
    Path(path).write_bytes(bytes(payload))
    return offset


def truncate(path: Path, fraction: float = 0.5) -> tuple[int, int]:
    """Cut `path` to `fraction` of its size (a copy that stopped half way); returns (old, new) sizes."""
    data = Path(path).read_bytes()
    kept = data[: int(len(data) * fraction)]
    Path(path).write_bytes(kept)
    return len(data), len(kept)


class Interrupt(Exception):
    """Raised by `stop_at`: the run stops as if killed after logging that step."""


def stop_at(step: int) -> Callable[[dict[str, Any]], None]:
    """An `on_record` hook that raises `Interrupt` once the train record of `step` is logged."""

    def hook(record: dict[str, Any]) -> None:
        if record.get("step") == step and "loss" in record:
            raise Interrupt(f"stopped at step {step}")

    return hook


def train_steps(metrics: Path) -> list[int]:
    """Steps of the train records in a metrics.jsonl, in file order."""
    return [int(r["step"]) for r in read_metrics(Path(metrics)) if "loss" in r]


def train_losses(metrics: Path) -> list[float]:
    """Losses of the train records in a metrics.jsonl, in file order."""
    return [float(r["loss"]) for r in read_metrics(Path(metrics)) if "loss" in r]


_PROGRESS = re.compile(r"step (\d+)/\d+ loss")


def printed_step(log: Path) -> int:
    """The last step a job's progress lines (`step N/TOTAL loss ...`, in process or forwarded from rank 0)
    reached in its stderr log: ahead of metrics.jsonl, which a Ray run's recorder writes with a lag."""
    try:
        return max((int(m.group(1)) for m in _PROGRESS.finditer(Path(log).read_text(errors="replace"))), default=0)
    except OSError:
        return 0


def wait_for_step(
    metrics: Path,
    step: int,
    proc: subprocess.Popen,
    timeout: float,
    also: Callable[[], bool] = lambda: True,
    log: Path | None = None,
) -> int:
    """Wait until the run reached `step` (its metrics.jsonl or, sooner, the progress lines of its stderr
    `log`) and `also()` holds, while `proc` runs; returns the step reached. RuntimeError if the job
    exits first, TimeoutError after `timeout` seconds."""

    def reached_step() -> int:
        return max([*train_steps(metrics)[-1:], printed_step(log) if log else 0])

    wait_until(
        lambda: reached_step() >= step and also(),
        timeout,
        what=f"step {step} of {metrics.parent}",
        interval=0.2,
        abort=lambda: None if proc.poll() is None else f"the job exited first (exit {proc.returncode})",
    )
    return reached_step()


def ray_train_workers(root_pid: int) -> list[Any]:
    """The Ray Train worker processes (`ray::RayTrainWorker...`) in the process tree under `root_pid`."""
    import psutil

    try:
        tree = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    workers = []
    for proc in tree:
        try:
            if "RayTrainWorker" in " ".join(proc.cmdline()):
                workers.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return workers


class _Collect(logging.Handler):
    def __init__(self, level: int, into: list[str]):
        super().__init__(level)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextlib.contextmanager
def captured_logs(logger: str, level: int = logging.WARNING) -> Iterator[list[str]]:
    """The messages of `logger` (and its children) at `level` or above while the block runs."""
    lines: list[str] = []
    handler, target = _Collect(level, lines), logging.getLogger(logger)
    old_level = target.level
    target.addHandler(handler)
    if target.getEffectiveLevel() > level:
        target.setLevel(level)
    try:
        yield lines
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)
