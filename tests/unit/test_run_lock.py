"""One writer per run directory: a second writer fails at once naming the holder; a dead holder's lock is free."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cola_platform.errors import UserError
from cola_platform.training.run_lock import LOCK_FILE, RunLock

HOLD = """
import sys, time
from pathlib import Path
from cola_platform.training.run_lock import RunLock
with RunLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""
REPO = Path(__file__).resolve().parents[2]


def hold_in_subprocess(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_fails_naming_the_holder_and_a_dead_holders_lock_is_taken_over(tmp_path):
    root = tmp_path / "run"
    holder = hold_in_subprocess(root)
    try:
        start = time.perf_counter()
        with pytest.raises(UserError, match=rf"in use by pid {holder.pid} on "):
            with RunLock(root):
                pass
        assert time.perf_counter() - start < 5, "a second writer must fail at once, not wait"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(root):  # the OS released the dead holder's lock
        (root / "metrics.jsonl").write_text("")
    assert (root / "metrics.jsonl").is_file()


def test_a_run_that_could_not_start_leaves_no_directory(tmp_path):
    root = tmp_path / "never"
    with pytest.raises(ValueError):
        with RunLock(root):
            assert (root / LOCK_FILE).exists()
            raise ValueError("config check failed")
    assert not root.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with RunLock(kept):
        pass
    assert kept.is_dir(), "a directory the lock did not create stays"
