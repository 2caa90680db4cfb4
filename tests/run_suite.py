"""Run the whole suite as two concurrent pytest processes (what `make test` runs).

The tests on the session's Ray cluster (`--part ray`: Ray Train, Tune, Ray Data, mostly waiting on worker
start-ups and DeepSpeed) and the others (`--part rest`: the unit tests, the jobs run in process, the embedded
cluster of `ray job submit`, MLflow and S3 servers) run in two processes side by side; on a 2-core machine
running them one after the other leaves a core idle for most of the suite. Each part keeps its own session
servers and runs its tests one at a time. The Ray part's output streams live; the other's goes to a log
file, printed when both are done. Exit status: non-zero when either part fails; pytest's "no tests
collected" (5) counts as success.

    python tests/run_suite.py [pytest options, e.g. --durations=15 -x]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NO_TESTS = 5


def _ok(code: int) -> bool:
    return code in (0, NO_TESTS)


def main(extra: list[str]) -> int:
    """Start both parts, wait for both, print the second part's log and a one-line summary per part."""
    pytest = [sys.executable, "-m", "pytest", *extra]
    started = time.monotonic()
    with tempfile.NamedTemporaryFile("w+", prefix="cola-tests-rest-", suffix=".log") as log:
        rest = subprocess.Popen(
            [*pytest, "-p", "no:cacheprovider", "--part", "rest", "tests"],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ray_code = subprocess.run([*pytest, "--part", "ray", "tests"], cwd=REPO).returncode
        except BaseException:  # interrupted: leave no second pytest behind
            rest.kill()
            raise
        ray_s = time.monotonic() - started
        rest_code = rest.wait()
        rest_s = time.monotonic() - started
        log.seek(0)
        print(f"\n===== --part rest (ran beside the Ray part) =====\n{log.read()}", flush=True)
    print(f"--part ray: exit {ray_code} after {ray_s:.0f} s; --part rest: exit {rest_code} after {rest_s:.0f} s")
    return 0 if _ok(ray_code) and _ok(rest_code) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
