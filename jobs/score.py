"""Score a directory of generation files with the official Cola DLM protocol.

    python -m jobs.score --generations runs/x/generations --out runs/x/scores [--name cola-small]

Reads `<task>.jsonl` files (one JSON object per line: id, prompt, generate, ground_truth, and
choices where the task has options; other fields ignored), scores each with its task's rule
(lambada: first word; mmlu, obqa, race, siqa: option letter, else exact match; anything else: exact
normalised match; the project's own task types: the storyworld scorer) and writes
`OUT/accuracy_summary.csv` (`task,<name>`, one row per task in percent with two decimals, a
`<task>_mod<r>` row per prompt-length remainder when records carry `prompt_len_mod_patch_size`,
then `tasks_average`), `OUT/<task>_correct.jsonl` and `OUT/<task>_wrong.jsonl` (the records with
their verdicts), and `OUT/result.json`. A bad file is one error line naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from cola_core.eval.generations import read_generations_dir
from cola_core.eval.scorers import TaskScores, score_records
from cola_core.eval.summary import AVERAGE_ROW, summary_csv, summary_rows, task_summary
from cola_core.utils.io import atomic_write_json, atomic_write_text
from cola_platform.errors import UserError
from cola_platform.paths import project_path
from jobs._cli import Parser, run_main

SUMMARY_FILE = "accuracy_summary.csv"


def build_parser() -> Parser:
    p = Parser(prog="jobs.score", description=__doc__)
    p.add_argument("--generations", required=True, metavar="DIR", help="directory of <task>.jsonl generation files")
    p.add_argument("--out", required=True, metavar="OUT", help="output directory")
    p.add_argument(
        "--name",
        help="column name in accuracy_summary.csv (default: the generations directory's name, "
        "or its parent's when it is called 'generations')",
    )
    return p


def default_name(generations: Path) -> str:
    """The run's name as seen from its generations directory."""
    d = generations.resolve()
    return d.parent.name if d.name == "generations" and d.parent.name else d.name


def verdict_lines(scores: TaskScores, correct: bool) -> str:
    """JSONL of the records with the given verdict, each with its `score` (rule, letters read)."""
    rows = [
        {**r.to_json(), "score": v.to_json()} for r, v in zip(scores.records, scores.verdicts) if v.correct == correct
    ]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def score_directory(generations: Path) -> list[TaskScores]:
    """Read and score every task file (all files are checked before anything is written)."""
    tasks = read_generations_dir(generations)
    return [score_records(task, records, str(generations / f"{task}.jsonl")) for task, records in tasks.items()]


def write_outputs(out: Path, all_scores: list[TaskScores], name: str, generations: Path) -> dict[str, Any]:
    """The CSV, the correct/wrong files and result.json (each written atomically, result.json last)."""
    rows = summary_rows(all_scores)
    for s in all_scores:
        atomic_write_text(out / f"{s.task}_correct.jsonl", verdict_lines(s, True))
        atomic_write_text(out / f"{s.task}_wrong.jsonl", verdict_lines(s, False))
    atomic_write_text(out / SUMMARY_FILE, summary_csv(rows, name))
    result = {
        "name": name,
        "generations": str(generations),
        "summary": dict(rows),
        "tasks_average": dict(rows)[AVERAGE_ROW],
        "tasks": {s.task: task_summary(s) for s in all_scores},
    }
    atomic_write_json(out / "result.json", result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    generations, out = Path(project_path(args.generations)), Path(project_path(args.out))
    if generations.resolve() == out.resolve():
        raise UserError(
            f"--out {out} is the --generations directory: its <task>_correct.jsonl files would be read "
            "as tasks next time; choose another --out"
        )
    all_scores = score_directory(generations)
    result = write_outputs(out, all_scores, args.name or default_name(generations), generations)
    for row, value in result["summary"].items():
        print(f"{row:24} {value:6.2f}")
    print(f"scores: {out}")
    return 0


if __name__ == "__main__":
    run_main(main)
