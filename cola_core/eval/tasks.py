"""Task items and few-shot prompt assembly.

Two JSONL formats are read:
- the project's: `{"context", "answer", "choices"?, "type", "id"?}` with type `lambada`,
  `multiple_choice` or `qa`; prompts are assembled here (k-shot, fixed seed); or type `ranked`:
  no generation, the choice the model finds most likely after the context is its answer
  (`cola_core/eval/ranked.py`);
- the paper harness's: `{"id", "prompt", "ground_truth", "choices"?}` with the prompt already
  formatted (shots and answer cue included). Which scoring rule applies comes from the file name
  (`cola_core/eval/scorers.py`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from cola_core.config import ConfigError
from cola_core.data.storyworld.tasks import TASK_BUILDERS

TYPES = ("lambada", "multiple_choice", "qa", "ranked")
GENERATIVE_TYPES = ("lambada", "multiple_choice", "qa")
LETTERS = "ABCDEFGHIJ"
QUALITY_TASK = "sw-quality"
"""The storyworld generation-quality check (`cola_core/eval/quality.py`), requested like a task."""
CONTINUATION_TASK = "continuation"
"""Held-out text continued from prompts of every length remainder (`cola_core/eval/continuation.py`)."""
BUILTIN_TASKS = (*TASK_BUILDERS, QUALITY_TASK)
"""The tasks `jobs.eval` runs by default: the storyworld tasks and the quality check."""
KNOWN_TASKS = (*BUILTIN_TASKS, CONTINUATION_TASK)
"""Every task `jobs.eval --tasks` knows by name: the defaults and the held-out `continuation` probe."""


@dataclass(frozen=True)
class TaskItem:
    """One evaluation item."""

    id: str
    type: str
    answer: str
    context: str = ""
    choices: tuple[str, ...] = field(default_factory=tuple)
    prompt: str = ""
    """Set for pre-formatted items (paper format): used verbatim, no shots added."""

    def render(self, with_answer: bool = False) -> str:
        """The item as prompt text (plus its answer when used as a demonstration)."""
        if self.prompt:
            return self.prompt
        text = self.context
        if self.type == "multiple_choice":
            options = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(self.choices))
            text = f"{self.context}\n{options}\nAnswer:"
        if not with_answer:
            return text
        sep = "" if self.type == "lambada" else " "
        return f"{text}{sep}{self.answer}"


def item_from_record(record: dict, default_type: str, index: int, where: str) -> TaskItem:
    """Validate one JSON record into a TaskItem."""
    if "prompt" in record and "ground_truth" in record:
        choices = record.get("choices") or []
        if not isinstance(choices, list):
            raise ConfigError(f"{where}: record {index} has choices that are not a list of option texts")
        return TaskItem(
            id=str(record.get("id", index)),
            type=default_type,
            answer=str(record["ground_truth"]),
            prompt=str(record["prompt"]),
            choices=tuple(str(c) for c in choices),
        )
    missing = [k for k in ("context", "answer", "type") if k not in record]
    if missing:
        raise ConfigError(f"{where}: record {index} lacks {', '.join(missing)} (need context, answer, type)")
    if record["type"] not in TYPES:
        raise ConfigError(f"{where}: record {index} has type {record['type']!r}; use one of {', '.join(TYPES)}")
    choices = tuple(str(c) for c in record.get("choices", ()))
    if record["type"] in ("multiple_choice", "ranked") and (len(choices) < 2 or record["answer"] not in choices):
        raise ConfigError(f"{where}: record {index} is {record['type']} but its answer is not one of >= 2 choices")
    return TaskItem(
        id=str(record.get("id", index)),
        type=record["type"],
        answer=str(record["answer"]),
        context=str(record["context"]),
        choices=choices,
    )


def load_jsonl_tasks(path: str | Path) -> list[TaskItem]:
    """Read a task file in either format; errors name the file and the record."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"task file {p} does not exist")
    default_type = "lambada" if p.stem.lower().startswith("lambada") else "qa"
    items = []
    for i, line in enumerate(p.read_text(encoding="utf-8").split("\n")):  # not splitlines(): JSON may hold U+2028
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{p}: line {i + 1} is not JSON ({err})") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{p}: line {i + 1} is a JSON {type(record).__name__}, not an object")
        items.append(item_from_record(record, default_type, i, str(p)))
    if not items:
        raise ConfigError(f"task file {p} holds no items")
    return items


def build_prompts(items: list[TaskItem], k_shot: int, seed: int) -> list[str]:
    """One prompt per item: k demonstrations drawn (seeded) from the other items, then the item."""
    rng = random.Random(seed)
    prompts = []
    for i, item in enumerate(items):
        if item.prompt or k_shot == 0 or len(items) < 2:
            prompts.append(item.render())
            continue
        pool = [j for j in rng.sample(range(len(items)), min(len(items), k_shot + 1)) if j != i][:k_shot]
        shots = [items[j].render(with_answer=True) for j in pool]
        prompts.append("\n\n".join([*shots, item.render()]))
    return prompts
