"""Where a scaling study's wall time went, from its points' records (`jobs.bench study`).

Every point records when it started and finished, its evaluation seconds and, per run, the phases
rank 0 marked (`cola_platform/training/phases.py`). Points trained in one Ray Train run (a group,
`cola_platform/scaling/executor.py`) share its start time; the first of them carries the run-level
phases and each one's wall time is its share of the group's. Adding them up over the study
gives the time in training steps against everything else a study pays: starting worker groups and
process groups, building engines, the first step, evaluations and checkpoints inside the loop,
tearing down, evaluating, and the gaps between points. The headline is `training_step_share`,
training-step seconds over the points' summed wall time plus the gaps: the study's wall time when
points run one at a time (as in the demo), and at most 1 when they run concurrently.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

RUN_KEYS = ("driver_setup", "worker_group_start", "process_group", "teardown")
STAGE_KEYS = ("setup", "first_step", "hand_over")


def point_breakdown(point: dict[str, Any]) -> dict[str, float]:
    """Seconds per category for one finished point (categories missing from its records are left out)."""
    timing = point.get("timing", {})
    runs = timing.get("runs", [])
    out: dict[str, float] = defaultdict(float)
    out["wall"] = float(point.get("wall_seconds", 0.0))
    if runs:  # the stages of a point share one Ray Train run: its run phases appear on every stage
        for key, value in runs[-1].get("run_phases", {}).items():
            out[key] += value
    for run in runs:
        phases = run.get("phases", {})
        out["training_steps"] += phases.get("steps", run.get("train_seconds", 0.0))  # in-process runs: no phases
        out["loop_besides_steps"] += max(
            0.0, phases.get("loop", 0.0) + phases.get("first_step", 0.0) - phases.get("steps", 0.0)
        )
        for key in ("setup", "hand_over"):
            out[key] += phases.get(key, 0.0)
    if "eval_seconds" in timing:
        out["evaluation"] = float(timing["eval_seconds"])
    recorded = sum(v for k, v in out.items() if k != "wall")
    out["other"] = max(0.0, out["wall"] - recorded)
    return dict(out)


def study_breakdown(out: Path) -> dict[str, Any]:
    """Totals over a study directory's finished points, the study's wall time and the step share."""
    points = [json.loads(p.read_text()) for p in sorted((out / "points").glob("*/point.json"))]
    if not points:
        return {"points": 0}
    rows: list[dict[str, Any]] = [{"point": Path(p["directory"]).name, **point_breakdown(p)} for p in points]
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        for key, value in row.items():
            if key != "point":
                totals[key] += value
    timed = [p["timing"] for p in points if "started_at" in p.get("timing", {})]
    spans = [(t["started_at"], t["finished_at"]) for t in timed]
    result: dict[str, Any] = {"points": len(points), "per_point": rows, "totals": dict(totals)}
    if len(spans) == len(points):
        wall = max(end for _, end in spans) - min(start for start, _ in spans)
        gaps = max(0.0, wall - _covered(spans))
        point_time = totals["wall"] + gaps  # the study's wall time when points run one at a time
        result.update(
            study_wall_seconds=wall,
            scheduling_gaps=gaps,
            training_step_share=totals["training_steps"] / point_time if point_time > 0 else 0.0,
        )
    return result


def _covered(spans: list[tuple[float, float]]) -> float:
    """Seconds during which at least one point ran."""
    covered, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return covered


def breakdown_markdown(name: str, result: dict[str, Any]) -> str:
    """The Markdown summary: one row per point, the totals and the headline share."""
    if not result.get("points"):
        return f"# Study `{name}`: no finished points\n"
    keys = ["wall", "training_steps", *RUN_KEYS, "setup", "loop_besides_steps", "hand_over", "evaluation", "other"]
    lines = [
        f"# Where the wall time of study `{name}` went (seconds)",
        "",
        "| point | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for row in [*result["per_point"], {"point": "**total**", **result["totals"]}]:
        lines.append(f"| {row['point']} | " + " | ".join(f"{row[k]:.1f}" if k in row else "" for k in keys) + " |")
    if "study_wall_seconds" in result:
        lines += [
            "",
            f"- study wall time (first point start to last point end): {result['study_wall_seconds']:.1f} s; "
            f"between points: {result['scheduling_gaps']:.1f} s",
            f"- **training_step_share**: {result['training_step_share']:.1%} of the wall time is training steps",
        ]
    else:
        lines += [
            "",
            "- the points carry no start/end times (finished before timings were recorded): no study wall time",
        ]
    return "\n".join(lines) + "\n"
