"""One writer per run directory: an OS file lock held for the whole run.

Two trainings into the same run directory would interleave `metrics.jsonl`, overwrite each other's
checkpoints and both write `result.json`. `RunLock` takes an exclusive, non-blocking lock on
`RUN_DIR/.run.lock` (`filelock`, i.e. `flock` on POSIX) and records the holder (host, pid) next to
it; a second writer fails at once with one line naming the holder. The operating system drops the
lock of a process that dies, so a stale lock is simply taken over by the next run. A directory the
lock itself created and that holds nothing else when the lock is released (a run that could not
start) is removed again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from cola_platform.errors import UserError

LOCK_FILE = ".run.lock"
OWNER_FILE = ".run.lock.owner"


class RunLock:
    """Context manager: hold the lock of run directory `root` (created if missing) or raise UserError."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = FileLock(str(self.root / LOCK_FILE), timeout=0)
        self._created = False

    def holder(self) -> str:
        """'pid P on HOST' of the recorded holder ('an unknown process' when unreadable)."""
        try:
            owner = json.loads((self.root / OWNER_FILE).read_text())
            return f"pid {owner['pid']} on {owner['host']}"
        except (OSError, ValueError, KeyError):
            return "an unknown process"

    def __enter__(self) -> RunLock:
        self._created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise UserError(
                f"run directory {self.root} is in use by {self.holder()}; wait for that run to end "
                "or stop it, then re-run to resume"
            ) from None
        (self.root / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        (self.root / OWNER_FILE).unlink(missing_ok=True)
        self._lock.release()
        if self._created and {p.name for p in self.root.iterdir()} <= {LOCK_FILE}:
            shutil.rmtree(self.root, ignore_errors=True)


def lock_runs(stack: ExitStack, roots: list[Path]) -> None:
    """Hold the locks of every run directory in `roots` until `stack` closes (all or none)."""
    for root in roots:
        stack.enter_context(RunLock(root))
