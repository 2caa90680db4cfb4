"""Starting detached server processes and stopping exactly those processes (and their children).

A process is identified by its PID *and* its start time, so a PID that the kernel has since reused
for an unrelated process is never signalled. Nothing here looks processes up by name.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcRef:
    """A process we started: its PID and start time (seconds since the epoch, from psutil)."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> "ProcRef":
        """Reference to the running process `pid` (raises `psutil.NoSuchProcess` if it is gone)."""
        return cls(pid, psutil.Process(pid).create_time())

    def process(self) -> psutil.Process | None:
        """The live process, or None when it exited, is a zombie or the PID now belongs to another process."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.05 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def alive(self) -> bool:
        """True while the very process we started runs."""
        return self.process() is not None


def launch(cmd: Sequence[str], log_path: Path, env: Mapping[str, str], cwd: Path | None = None) -> subprocess.Popen:
    """Start `cmd` detached in its own session (it outlives the caller), output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    log.debug("started pid %d: %s", proc.pid, " ".join(cmd))
    return proc


def exit_reason(proc: subprocess.Popen, log_path: Path) -> str | None:
    """None while `proc` runs; once it exited, a one-line reason quoting the log's last line."""
    code = proc.poll()
    if code is None:
        return None
    return f"exited with code {code}; last log line: {last_line(log_path)!r} (log: {log_path})"


def last_line(path: Path) -> str:
    """The last non-empty line of a text file ('' when missing)."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-300:] if lines else ""


def descendants(ref: ProcRef) -> list[ProcRef]:
    """The live children, grandchildren, ... of a process we started."""
    proc = ref.process()
    if proc is None:
        return []
    found = []
    for child in proc.children(recursive=True):
        try:
            found.append(ProcRef(child.pid, child.create_time()))
        except psutil.NoSuchProcess:
            continue
    return found


def session_members(root: ProcRef) -> list[ProcRef]:
    """Live processes still in the session that `launch` created for `root` (orphans included).

    `launch` makes the root a session leader, so its session id is its PID; the kernel does not
    reuse a PID while a session of that id exists, and the start-time check rules out older ones.
    """
    found = []
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if (
                proc.pid != root.pid
                and os.getsid(proc.pid) == root.pid
                and proc.info["create_time"] >= root.create_time - 0.05
            ):
                found.append(ProcRef(proc.pid, proc.info["create_time"]))
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def _signal_all(refs: Sequence[ProcRef], sig: int) -> None:
    for ref in refs:
        proc = ref.process()
        if proc is not None:
            try:
                proc.send_signal(sig)
            except psutil.NoSuchProcess:
                pass


def _wait_gone(refs: Sequence[ProcRef], timeout: float) -> list[ProcRef]:
    deadline = time.monotonic() + timeout
    alive = [r for r in refs if r.alive()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [r for r in alive if r.alive()]
    return alive


def stop_tree(root: ProcRef, extra: Sequence[ProcRef] = (), grace: float = 45.0) -> bool:
    """Stop a process we started, its descendants, its session and `extra` processes recorded at start-up.

    SIGTERM goes to the root first (Ray's `ray start --block` then drains and stops its own
    processes), then to whatever of the tree is left, then SIGKILL. Returns True when everything
    is gone.
    """
    tree = list(dict.fromkeys([root, *descendants(root), *session_members(root), *extra]))
    _signal_all([root], signal.SIGTERM)
    _wait_gone([root], grace)
    reap(root.pid)
    _signal_all([r for r in tree if r != root], signal.SIGTERM)
    left = _wait_gone(tree, 10.0)
    if left:
        log.warning("SIGKILL to %d process(es) that ignored SIGTERM: %s", len(left), [r.pid for r in left])
        _signal_all(left, signal.SIGKILL)
        left = _wait_gone(left, 10.0)
    return not left


def reap(pid: int) -> None:
    """Collect a child's exit status if it is our child (avoids zombies when `up` runs in-process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
