"""`up` and `down` on one state directory exclude each other (a second one waits for the lock)."""

from __future__ import annotations

import pytest
from filelock import FileLock, Timeout

from cola_platform.cluster.manager import _locked


def test_up_and_down_hold_the_state_dirs_lock(tmp_path) -> None:
    state_dir = tmp_path / "cluster"
    with _locked(state_dir):
        with pytest.raises(Timeout):
            FileLock(str(state_dir / ".lock"), timeout=0).acquire()
    with FileLock(str(state_dir / ".lock"), timeout=0):
        pass  # released on exit
