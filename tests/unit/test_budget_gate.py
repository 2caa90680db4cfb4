"""The budget gate of doubling studies and the first-reached table of their report."""

from __future__ import annotations

from cola_platform.scaling.budget_gate import BudgetGate
from sweeps.scaling_report import first_reached


def point(family: str, budget: float, quality: float, wall: float) -> dict:
    return {"family": family, "budget": budget, "flops": budget * 1.01, "q": quality, "wall_seconds": wall}


def test_gate_stops_a_family_at_its_quality_and_at_its_time_cap() -> None:
    gate = BudgetGate(time_cap_s=1000, stop_quality=0.5, quality_metric="q")
    done = [point("ar", 1e12, 0.2, 100), point("ar", 2e12, 0.6, 200), point("cola", 1e12, 0.0, 300)]
    assert "reached q >= 0.5 at 2e+12" in gate.skip_reason("ar", 4e12, done)
    assert gate.skip_reason("ar", 2e12, done[:1]) == ""  # 100 s spent + ~200 s estimated < 1000 s
    assert "time cap" in gate.skip_reason("cola", 4e12, done)  # 300 s + ~1200 s estimated > 1000 s
    assert gate.skip_reason("cola", 2e12, done) == ""  # 300 + 600 <= 1000
    assert gate.skip_reason("llada", 1e12, done) == ""  # nothing finished yet: run it
    assert not BudgetGate().active and BudgetGate().skip_reason("ar", 4e12, done) == ""


def test_first_reached_gives_the_smallest_budget_or_why_not() -> None:
    pts = [
        point("ar", 1e12, 0.05, 1),
        point("ar", 2e12, 0.12, 1),
        point("ar", 4e12, 0.55, 1),
        point("cola", 1e12, 0.0, 1),
        point("cola", 2e12, 0.02, 1),
    ]
    skipped = [{"family": "cola", "budget": 4e12, "reason": "cola time cap"}]
    rows = {(r["family"], r["threshold"]): r for r in first_reached(pts, ["ar", "cola"], "q", [0.1, 0.5], skipped)}
    assert rows["ar", 0.1]["budget"] == 2e12 and rows["ar", 0.5]["budget"] == 4e12
    assert rows["ar", 0.5]["flops"] == 4e12 * 1.01
    assert rows["cola", 0.1]["budget"] is None and rows["cola", 0.1]["stopped"] == "cola time cap"
    assert rows["cola", 0.5]["best"] == 0.02 and rows["cola", 0.5]["largest_budget"] == 2e12
