"""The fault suite's machinery: a fault, what its drill measured, and the verdict.

A drill gets a `FaultContext` and a `Probe`; it injects its fault and calls `probe.expect(claim,
ok, observed)` for every part of the claim, `probe.record(...)` for figures worth keeping (exit
code, seconds to detect, step resumed from) and `probe.observe(text)` for the one-line account that
goes into the table. A fault `held` when its drill ran to the end and every expectation was met;
anything else (an unmet expectation, no expectation at all, the drill raising) is `failed`.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from cola_platform.errors import UserError

if TYPE_CHECKING:
    from cola_platform.faults.context import FaultContext

log = logging.getLogger(__name__)
HELD, FAILED = "held", "failed"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Check:
    """One part of a claim and what was measured for it."""

    claim: str
    ok: bool
    observed: str = ""


class Probe:
    """What a drill measured: checks of the claim, evidence figures and a one-line account."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.evidence: dict[str, Any] = {}
        self.observed = ""

    def expect(self, claim: str, ok: bool, observed: Any = "") -> bool:
        """Record whether part `claim` of the fault's claim held (`observed`: what was measured)."""
        self.checks.append(Check(claim, bool(ok), str(observed)))
        return bool(ok)

    def record(self, **figures: Any) -> None:
        """Keep measured figures (exit code, seconds, steps, error text) in the fault's evidence."""
        self.evidence.update(figures)

    def observe(self, text: str) -> None:
        """The one-line account of what happened, shown in the table."""
        self.observed = text


Drill = Callable[["FaultContext", Probe], None]


@dataclass(frozen=True)
class Fault:
    """A fault the platform claims to survive."""

    name: str
    fault: str
    """What is done to the platform."""
    claim: str
    """What must happen."""
    drill: Drill
    covered_by: tuple[str, ...] = ()
    """Tests (`path::test_name`) that check the same claim in `make test`."""
    cluster: bool = False
    """The drill needs the throwaway embedded cluster (Ray head, MLflow, S3)."""


@dataclass
class FaultResult:
    """The verdict on one fault, with what was measured."""

    name: str
    fault: str
    claim: str
    verdict: str
    seconds: float
    observed: str
    checks: list[Check]
    evidence: dict[str, Any]
    covered_by: list[dict[str, Any]]
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def covering_tests(ids: Iterable[str], repo: Path = REPO) -> list[dict[str, Any]]:
    """`[{"test": id, "exists": bool}]`: whether each `path::name` names a test function in the repository."""
    out = []
    for test_id in ids:
        path, _, name = test_id.partition("::")
        try:
            exists = f"def {name}(" in (repo / path).read_text()
        except OSError:
            exists = False
        out.append({"test": test_id, "exists": exists})
    return out


def run_fault(fault: Fault, ctx: FaultContext) -> FaultResult:
    """Run one drill and judge it (an exception in the drill is a `failed` verdict, not a crash)."""
    probe, error = Probe(), ""
    log.info("fault %s: %s", fault.name, fault.fault)
    start = time.perf_counter()
    try:
        fault.drill(ctx, probe)
    except Exception as err:  # the drill could not finish: the claim is not shown to hold
        error = f"{type(err).__name__}: {err}"
        log.warning("fault %s: the drill raised %s\n%s", fault.name, error, traceback.format_exc(limit=6))
    seconds = round(time.perf_counter() - start, 1)
    held = not error and bool(probe.checks) and all(c.ok for c in probe.checks)
    if not probe.checks and not error:
        error = "the drill checked nothing"
    result = FaultResult(
        name=fault.name,
        fault=fault.fault,
        claim=fault.claim,
        verdict=HELD if held else FAILED,
        seconds=seconds,
        observed=probe.observed,
        checks=probe.checks,
        evidence=probe.evidence,
        covered_by=covering_tests(fault.covered_by),
        error=error,
    )
    log.info(
        "fault %s: %s in %.0f s%s",
        fault.name,
        result.verdict.upper(),
        seconds,
        "".join(f"\n  not met: {c.claim} (observed: {c.observed})" for c in result.failed_checks)
        + (f"\n  error: {error}" if error else ""),
    )
    return result


def select_faults(catalog: list[Fault], only: list[str]) -> list[Fault]:
    """The faults named in `only` (all when empty), in catalog order; UserError for unknown names."""
    if not only:
        return list(catalog)
    known = {f.name for f in catalog}
    unknown = [n for n in only if n not in known]
    if unknown:
        raise UserError(f"unknown fault(s) {', '.join(unknown)}: --only takes names from {', '.join(sorted(known))}")
    return [f for f in catalog if f.name in only]


def run_faults(
    faults: list[Fault], ctx: FaultContext, on_result: Callable[[FaultResult], None] | None = None
) -> list[FaultResult]:
    """Run the drills in order; `on_result` sees each verdict as it is reached (e.g. to save the JSON)."""
    results: list[FaultResult] = []
    for fault in faults:
        results.append(run_fault(fault, ctx))
        if on_result is not None:
            on_result(results[-1])
    return results


def verdict_counts(results: list[FaultResult]) -> dict[str, int]:
    """{"held": n, "failed": m}."""
    return {v: sum(1 for r in results if r.verdict == v) for v in (HELD, FAILED)}


@dataclass
class SuiteRun:
    """Everything `jobs.bench faults` reports."""

    command: str
    started: str
    machine: dict[str, Any]
    results: list[FaultResult] = field(default_factory=list)
    seconds: float = 0.0
    commit: str = ""
    uncommitted: list[str] = field(default_factory=list)
    """Code files that differed from `commit` when the suite ran."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "started": self.started,
            "commit": self.commit,
            "uncommitted": self.uncommitted,
            "machine": self.machine,
            "seconds": self.seconds,
            "verdicts": verdict_counts(self.results),
            "faults": [r.as_dict() for r in self.results],
        }
