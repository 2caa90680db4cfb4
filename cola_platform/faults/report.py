"""The fault suite's Markdown page: `fault | what happens | verdict | covered by`, ready for the README."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cola_platform.faults.suite import HELD
from cola_platform.progress import format_duration


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _covered(tests: list[dict[str, Any]]) -> str:
    if not tests:
        return "none yet (this drill only)"
    return "<br>".join(
        f"`{Path(t['test'].split('::')[0]).name}::{t['test'].split('::')[1]}`" + ("" if t["exists"] else " (not found)")
        for t in tests
    )


def _what_happens(fault: dict[str, Any]) -> str:
    text = f"{fault['claim']}. *Measured:* {fault['observed'] or 'nothing'}"
    unmet = [c for c in fault["checks"] if not c["ok"]]
    if unmet:
        text += ". *Not met:* " + "; ".join(f"{c['claim']} (observed: {c['observed'][:200]})" for c in unmet)
    if fault["error"]:
        text += f". *Drill error:* {fault['error'][:300]}"
    return _cell(text)


def _uncommitted(report: dict[str, Any]) -> str:
    files = report.get("uncommitted", [])
    return f" plus uncommitted changes to {len(files)} code file(s), listed in the JSON" if files else ""


def table(faults: list[dict[str, Any]]) -> str:
    """The Markdown table of a report's faults (one row each)."""
    lines = ["| fault | what happens | verdict | covered by |", "|---|---|---|---|"]
    for f in faults:
        verdict = f["verdict"] if f["verdict"] == HELD else f"**{f['verdict']}**"
        lines.append(
            f"| `{f['name']}`: {_cell(f['fault'])} | {_what_happens(f)} | {verdict} ({f['seconds']:.0f} s) | "
            f"{_covered(f['covered_by'])} |"
        )
    return "\n".join(lines)


def reliability_markdown(report: dict[str, Any]) -> str:
    """The whole page: how it was produced, the verdict counts and the table."""
    m, counts = report["machine"], report["verdicts"]
    return "\n".join(
        [
            "# Reliability: the faults the platform claims to survive, measured",
            "",
            f"Produced by `{report['command']}` on {report['started'][:10]} (started {report['started']}, commit "
            f"`{report['commit'][:10] or 'unknown'}`{_uncommitted(report)}), {m['cores']} cores, load average "
            f"{m['load_average']} at the start; the suite took {format_duration(report['seconds'])}.",
            f"**{counts['held']} held, {counts['failed']} failed.**",
            "",
            "Each row is a drill in `cola_platform/faults/` that injects the fault into the real components (the jobs' "
            "CLIs; a throwaway `jobs.cluster up --s3` on free loopback ports with its Ray head, MLflow and S3 servers; "
            "Ray Train workers under DeepSpeed ZeRO-2) and checks every part of the claim; the evidence of each check is "
            "in the JSON next to this file. Re-run one or a few with `python -m jobs.bench faults --only NAME[,NAME] "
            "--json FILE`.",
            "",
            table(report["faults"]),
            "",
        ]
    )
