"""Accuracy tables in the official layout: one row per task (percent, two decimals), a
`<task>_mod<r>` row per prompt-length remainder when the records carry one, then `tasks_average`
(the plain mean over the tasks, remainder rows excluded)."""

from __future__ import annotations

import csv
import io
from typing import Any

from cola_core.eval.scorers import OFFICIAL_TASKS, TaskScores
from cola_core.eval.scoring import accuracy_with_stderr

AVERAGE_ROW = "tasks_average"


def ordered_tasks(names: list[str]) -> list[str]:
    """The paper's tasks in its table order, then any others alphabetically."""
    known = sorted((n for n in names if n.lower() in OFFICIAL_TASKS), key=lambda n: OFFICIAL_TASKS.index(n.lower()))
    return known + sorted(n for n in names if n.lower() not in OFFICIAL_TASKS)


def remainder_summary(scores: TaskScores) -> dict[str, dict[str, float]]:
    """{remainder: {n, correct, accuracy (fraction), stderr}} ({} when no record carries a remainder)."""
    out = {}
    for r, flags in scores.by_remainder().items():
        acc, se = accuracy_with_stderr(flags)
        out[str(r)] = {"n": len(flags), "correct": sum(flags), "accuracy": acc, "stderr": se}
    return out


def task_rows(scores: TaskScores) -> list[tuple[str, float]]:
    """(row name, accuracy in percent) for the task and each of its remainders."""
    rows = [(scores.task, 100.0 * scores.accuracy)]
    rows += [(f"{scores.task}_mod{r}", 100.0 * s["accuracy"]) for r, s in remainder_summary(scores).items()]
    return rows


def summary_rows(all_scores: list[TaskScores]) -> list[tuple[str, float]]:
    """Every task's rows in table order, then `tasks_average` over the task rows only."""
    by_name = {s.task: s for s in all_scores}
    rows = [row for name in ordered_tasks(list(by_name)) for row in task_rows(by_name[name])]
    accs = [100.0 * s.accuracy for s in all_scores]
    return rows + [(AVERAGE_ROW, sum(accs) / len(accs) if accs else float("nan"))]


def summary_csv(rows: list[tuple[str, float]], name: str) -> str:
    """`task,<name>` then `row,accuracy` with two decimals (CSV-quoted where needed)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["task", name])
    writer.writerows([(row, f"{value:.2f}") for row, value in rows])
    return buf.getvalue()


def task_summary(scores: TaskScores) -> dict[str, Any]:
    """A task's numbers for result.json: counts, accuracy (fraction and percent), scorer, remainders."""
    out: dict[str, Any] = {
        "n": scores.n,
        "correct": scores.correct,
        "accuracy": scores.accuracy,
        "accuracy_percent": 100.0 * scores.accuracy,
        "stderr": scores.stderr,
        "scorer": scores.scorer,
        "by_remainder": remainder_summary(scores),
    }
    if scores.f1 is not None:
        out["f1"] = scores.f1
    return out
