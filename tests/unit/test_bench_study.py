"""A study's wall time by phase from its points' records (`jobs.bench study`)."""

import json

from cola_platform.bench.study import breakdown_markdown, point_breakdown, study_breakdown


def point(name: str, start: float, end: float, steps: float, evaluation: float) -> dict:
    run = {
        "train_seconds": steps,
        "wall_seconds": end - start - evaluation,
        "run_phases": {"driver_setup": 1.0, "worker_group_start": 10.0, "process_group": 2.0, "teardown": 5.0},
        "phases": {"setup": 4.0, "first_step": 3.0, "loop": steps + 1.0, "steps": steps},
    }
    return {
        "directory": f"/x/points/{name}",
        "wall_seconds": end - start,
        "timing": {"started_at": start, "finished_at": end, "eval_seconds": evaluation, "runs": [run]},
    }


def test_point_categories_add_up_to_its_wall_time():
    row = point_breakdown(point("a", 0.0, 60.0, steps=20.0, evaluation=6.0))
    assert row["training_steps"] == 20.0 and row["loop_besides_steps"] == 4.0 and row["evaluation"] == 6.0
    assert sum(v for k, v in row.items() if k != "wall") == row["wall"] == 60.0


def test_study_share_and_gaps(tmp_path):
    for p in (point("a", 100.0, 160.0, 20.0, 6.0), point("b", 170.0, 250.0, 40.0, 6.0)):
        (tmp_path / "points" / p["directory"].rsplit("/", 1)[-1]).mkdir(parents=True)
        (tmp_path / "points" / p["directory"].rsplit("/", 1)[-1] / "point.json").write_text(json.dumps(p))
    result = study_breakdown(tmp_path)
    assert result["study_wall_seconds"] == 150.0 and result["scheduling_gaps"] == 10.0
    assert result["training_step_share"] == 60.0 / 150.0
    assert "training_step_share" in breakdown_markdown("s", result)
