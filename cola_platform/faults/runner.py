"""`jobs.bench faults`: run the selected drills, keep the JSON and the Markdown page up to date after each."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from cola_core.utils.io import atomic_write_json, atomic_write_text
from cola_platform.faults.catalog import CATALOG
from cola_platform.faults.context import FaultContext
from cola_platform.faults.report import reliability_markdown
from cola_platform.faults.suite import REPO, Fault, FaultResult, SuiteRun, run_faults, select_faults

log = logging.getLogger(__name__)


CODE_DIRS = ("cola_core", "cola_platform", "jobs", "sweeps")


def uncommitted_code() -> list[str]:
    """Code files that differ from the checkout's commit (modified or new), so a report says what it measured."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", *CODE_DIRS],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=REPO,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line[3:] for line in out.stdout.splitlines() if line.strip()]


def run_suite(
    json_path: Path, command: str, only: list[str] | None = None, workdir: str = "", catalog: list[Fault] | None = None
) -> dict[str, Any]:
    """Run the faults named in `only` (all when empty) of `catalog` (default: every known fault).

    Writes the report to `json_path` and the Markdown page next to it (`.md`) after every fault, so
    an interrupted suite keeps what it measured; returns the report. The suite's cluster (started
    only when a selected drill needs it) is stopped at the end, whatever happened.
    """
    from cola_platform.bench.measure import machine
    from cola_platform.training.result import git_commit

    faults = select_faults(catalog if catalog is not None else CATALOG, list(only or []))
    suite = SuiteRun(
        command=command,
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        machine=machine(),
        commit=git_commit(),
        uncommitted=uncommitted_code(),
    )
    json_path, md_path = Path(json_path), Path(json_path).with_suffix(".md")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    def save() -> None:
        suite.seconds = round(time.perf_counter() - start, 1)
        report = suite.as_dict()
        atomic_write_json(json_path, report)
        atomic_write_text(md_path, reliability_markdown(report))

    def on_result(result: FaultResult) -> None:
        suite.results.append(result)
        save()

    ctx = FaultContext(Path(workdir) if workdir else None)
    log.info("fault suite: %d fault(s), work directory %s", len(faults), ctx.workdir)
    try:
        run_faults(faults, ctx, on_result=on_result)
    finally:
        ctx.close()
    save()
    log.info("wrote %s and %s", json_path, md_path)
    return suite.as_dict()
