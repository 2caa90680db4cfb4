"""Accuracy per prompt-length remainder in a sweep's summary (e.g. `studies/boundary_tiny.toml`).

An evaluation task scored per remainder r = prompt length mod p reports `<task>_mod<r>_acc` and its
`_stderr` (see `cola_core/eval/continuation.py`). For every trial and every such task with two or more
remainders, this gives the per-remainder accuracies and the boundary gap: the remainder-0 accuracy minus
the mean of the others, with a standard error that treats the remainders' estimates as independent (they
come from the same sequences, so it is conservative when their errors are positively correlated).
"""

from __future__ import annotations

import math
import re
from typing import Any

from sweeps.values import finite

MOD = re.compile(r"^(?P<task>.+)_mod(?P<r>\d+)_acc$")


def remainder_rows(records: list[dict], params: list[str]) -> list[dict[str, Any]]:
    """One row per (ok trial, task scored per remainder): {task, <params>, accuracy: [...], stderr: [...],
    gap, gap_stderr}, remainders in order."""
    rows = []
    for rec in records:
        if rec.get("status") != "ok":
            continue
        tasks: dict[str, dict[int, tuple[float, float]]] = {}
        for key, value in rec.items():
            m = MOD.match(key)
            if m and finite(value):
                se = rec.get(f"{key}_stderr")
                tasks.setdefault(m["task"], {})[int(m["r"])] = (value, se if finite(se) else math.nan)
        for task, cells in sorted(tasks.items()):
            if len(cells) < 2 or sorted(cells) != list(range(len(cells))):
                continue
            acc = [cells[r][0] for r in range(len(cells))]
            se = [cells[r][1] for r in range(len(cells))]
            others = len(acc) - 1
            gap = acc[0] - sum(acc[1:]) / others
            gap_se = math.sqrt(se[0] ** 2 + sum(s**2 for s in se[1:]) / others**2)
            row = {"task": task, **{p: rec.get(p) for p in params}}
            rows.append(row | {"accuracy": acc, "stderr": se, "gap": gap, "gap_stderr": gap_se})
    return rows


def remainder_markdown(rows: list[dict[str, Any]], params: list[str]) -> list[str]:
    """The per-remainder tables of a summary, one per task (nothing when no trial scored one)."""
    lines: list[str] = []
    for task in sorted({r["task"] for r in rows}):
        mine = sorted((r for r in rows if r["task"] == task), key=lambda r: [str(r.get(p)) for p in params])
        width = max(len(r["accuracy"]) for r in mine)
        lines += [
            "",
            f"## `{task}` accuracy per prompt-length remainder",
            "",
            "Mean ± standard error per remainder r = prompt length mod p; gap = r = 0 minus the mean of the others.",
            "",
            "| " + " | ".join([*params, *(f"r = {r}" for r in range(width)), "gap"]) + " |",
            "|" + "---|" * (len(params) + width + 1),
        ]
        for row in mine:
            cells = [f"{a:.3f} ± {s:.3f}" for a, s in zip(row["accuracy"], row["stderr"])]
            cells += [""] * (width - len(cells))
            gap = f"{row['gap']:+.3f} ± {row['gap_stderr']:.3f}"
            lines.append("| " + " | ".join([*(str(row.get(p, "")) for p in params), *cells, gap]) + " |")
    return lines
