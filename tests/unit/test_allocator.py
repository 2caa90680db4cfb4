"""The allocator settings apply on glibc and can be switched off."""

from __future__ import annotations

import subprocess
import sys

CHECK = "from cola_platform.allocator import keep_freed_memory; print(keep_freed_memory(), keep_freed_memory())"


def test_applies_once_on_glibc_and_respects_the_opt_out() -> None:
    import platform

    on = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout.split()
    off = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        check=True,
        env={"COLA_KEEP_ALLOCATOR": "1", "PATH": ""},
    ).stdout.split()
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert on == [expected, expected]
    assert off == ["False", "False"]
