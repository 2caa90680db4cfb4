"""How a scaling study's points share Ray Train runs, and how a group's wall time is split over its points."""

from __future__ import annotations

import pytest

from cola_platform.scaling.budget_gate import BudgetGate
from cola_platform.scaling.executor import PointJob, _attributed_walls, group_points
from sweeps.scaling_plan import ScalingStudy, plan_study

DATA = {"data.path": "d", "data.seq_len": 64, "model.vocab_size": 512}


def jobs(workers: int = 2, **family_overrides: dict) -> list[PointJob]:
    study = ScalingStudy(
        name="t",
        families=["cola", "ar", "llada"],
        budgets=[3e12, 1e13],
        presets=["tiny"],
        data="d",
        workers=workers,
        family_overrides=family_overrides,
    )
    runs = [r for r in plan_study(study, DATA) if not r.skipped]
    return [PointJob(study, r, dict(DATA), f"/points/{r.key}") for r in reversed(runs)]


def keys(groups: list[list[PointJob]]) -> list[list[str]]:
    return [[f"{j.run.family}-{j.run.budget:g}" for j in g] for g in groups]


def test_one_at_a_time_studies_share_one_run_in_family_then_budget_order() -> None:
    assert keys(group_points(jobs(), max_concurrent=1)) == [
        ["cola-3e+12", "cola-1e+13", "ar-3e+12", "ar-1e+13", "llada-3e+12", "llada-1e+13"]
    ]


def test_concurrent_studies_get_one_run_per_family_and_incompatible_points_split() -> None:
    assert keys(group_points(jobs(), max_concurrent=3)) == [
        ["cola-3e+12", "cola-1e+13"],
        ["ar-3e+12", "ar-1e+13"],
        ["llada-3e+12", "llada-1e+13"],
    ]
    split = group_points(jobs(ar={"train.seed": 7}), max_concurrent=1)  # another seed: another worker group
    assert keys(split) == [["cola-3e+12", "cola-1e+13", "llada-3e+12", "llada-1e+13"], ["ar-3e+12", "ar-1e+13"]]


def test_gated_and_in_process_studies_run_one_point_per_task() -> None:
    gate = BudgetGate(time_cap_s=600)
    assert all(len(g) == 1 for g in group_points(jobs(), 1, gate))
    assert all(len(g) == 1 for g in group_points(jobs(workers=0), 1))


def test_a_groups_wall_time_is_split_over_its_points_and_adds_up() -> None:
    run_phases = {"driver_setup": 1.0, "worker_group_start": 18.0, "process_group": 0.5, "teardown": 2.5}
    first = [{"run_phases": run_phases, "phases": {"setup": 14.0, "first_step": 2.0, "loop": 20.0, "steps": 19.0}}]
    second = [
        {"run_phases": run_phases, "phases": {"setup": 0.5, "first_step": 1.0, "loop": 10.0, "steps": 9.0}},
        {"run_phases": run_phases, "phases": {"setup": 0.5, "first_step": 1.0, "loop": 22.5, "hand_over": 0.5}},
    ]
    walls = _attributed_walls(120.0, [first, second])
    assert sum(walls) == pytest.approx(120.0)
    own_first, own_second = 36.0, 36.0  # the rest (120 - 22 run-level s) splits in proportion to these
    assert walls[0] == pytest.approx(22.0 + 98.0 * own_first / (own_first + own_second))
    assert walls[1] == pytest.approx(98.0 * own_second / (own_first + own_second))
