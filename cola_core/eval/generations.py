"""Generation files in the official layout: a directory of `<task>.jsonl`, one JSON object per line.

Each line holds at least `id`, `prompt`, `generate` (the model's continuation) and `ground_truth`,
plus `choices` (option texts, in order) where the task has options. Optional fields read here:
`prompt_len_mod_patch_size` (prompt length in tokens modulo the patch size, for the per-boundary
breakdown) and `type` (`lambada` / `multiple_choice` / `qa`: the project's own task formats, scored
by the storyworld scorer). Any other field is kept in the correct/wrong files and otherwise ignored.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cola_core.config import ConfigError
from cola_core.eval.tasks import GENERATIVE_TYPES
from cola_core.utils.io import replace_dir

REQUIRED = ("id", "prompt", "generate", "ground_truth")
MARKER = ".generations"
"""File that marks a directory as written by the evaluation (so rewriting it may replace it)."""


@dataclass(frozen=True)
class GenerationRecord:
    """One scored item: prompt, the model's generation and the expected answer."""

    id: str | int
    prompt: str
    generate: str
    ground_truth: str
    choices: tuple[str, ...] = ()
    type: str | None = None
    """The project's task type when the item came in its own format (None for the official layout)."""
    prompt_len_mod_patch_size: int | None = None
    line: int = field(default=0, compare=False)
    """1-based line in the file it was read from (0: built in memory)."""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The JSON object as read, extra fields included."""

    def to_json(self) -> dict[str, Any]:
        """The record as written: the read object (extra fields kept) updated with the known fields."""
        out: dict[str, Any] = {
            **self.raw,
            "id": self.id,
            "prompt": self.prompt,
            "generate": self.generate,
            "ground_truth": self.ground_truth,
        }
        if self.choices:
            out["choices"] = list(self.choices)
        if self.type is not None:
            out["type"] = self.type
        if self.prompt_len_mod_patch_size is not None:
            out["prompt_len_mod_patch_size"] = self.prompt_len_mod_patch_size
        return out


def _bad(where: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: {problem}")


def parse_record(obj: Any, where: str, line: int = 0) -> GenerationRecord:
    """Validate one decoded JSON line; `where` ("file:line") starts every error message."""
    if not isinstance(obj, dict):
        raise _bad(where, f"is a JSON {type(obj).__name__}, not an object with {', '.join(REQUIRED)}")
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise _bad(where, f"missing {', '.join(missing)} (each line needs {', '.join(REQUIRED)})")
    for key in ("prompt", "generate", "ground_truth"):
        if not isinstance(obj[key], str):
            raise _bad(where, f"{key} is a {type(obj[key]).__name__}, not a string")
    if isinstance(obj["id"], bool) or not isinstance(obj["id"], (str, int)):
        raise _bad(where, f"id is a {type(obj['id']).__name__}, not a string or integer")
    choices = obj.get("choices")
    if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
        raise _bad(where, "choices is not a list of strings")
    mod = obj.get("prompt_len_mod_patch_size")
    if mod is not None and (isinstance(mod, bool) or not isinstance(mod, int) or mod < 0):
        raise _bad(where, f"prompt_len_mod_patch_size is {mod!r}, not an integer >= 0")
    kind = obj.get("type")
    return GenerationRecord(
        id=obj["id"],
        prompt=obj["prompt"],
        generate=obj["generate"],
        ground_truth=obj["ground_truth"],
        choices=tuple(choices or ()),
        type=kind if kind in GENERATIVE_TYPES else None,
        prompt_len_mod_patch_size=mod,
        line=line,
        raw=obj,
    )


def read_generation_file(path: str | Path) -> list[GenerationRecord]:
    """All records of one `<task>.jsonl` (blank lines skipped); errors name the file and line."""
    p = Path(path)
    records = []
    for n, raw in enumerate(p.read_bytes().split(b"\n"), start=1):  # "\n" only: JSON text may hold U+2028
        try:
            text = raw.decode("utf-8")
            if not text.strip():
                continue
            obj = json.loads(text)
        except UnicodeDecodeError as err:
            raise _bad(f"{p}:{n}", f"not UTF-8 text ({err.reason} at byte {err.start})") from None
        except json.JSONDecodeError as err:
            raise _bad(f"{p}:{n}", f"not JSON ({err.msg} at column {err.colno})") from None
        records.append(parse_record(obj, f"{p}:{n}", n))
    if not records:
        raise ConfigError(f"{p}: holds no records (expected one JSON object per line)")
    return records


def read_generations_dir(directory: str | Path) -> dict[str, list[GenerationRecord]]:
    """Every `<task>.jsonl` of a directory, by task name (the file's stem)."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"--generations {d} is not a directory (expected a directory of <task>.jsonl files)")
    files = sorted(d.glob("*.jsonl"))
    if not files:
        raise ConfigError(f"--generations {d} holds no <task>.jsonl files")
    return {f.stem: read_generation_file(f) for f in files}


def check_writable(directory: str | Path) -> None:
    """Refuse to replace an existing non-empty directory that an evaluation did not write."""
    d = Path(directory)
    if d.exists() and (not d.is_dir() or (any(d.iterdir()) and not (d / MARKER).exists())):
        raise ConfigError(
            f"generations directory {d} exists and was not written by an evaluation; "
            "pass another --generations directory"
        )


def write_generations(directory: str | Path, tasks: dict[str, list[GenerationRecord]]) -> Path:
    """Write `<task>.jsonl` per task into `directory`, replacing an earlier evaluation's directory whole
    (so no file of an earlier task list is left to be scored); written in a temp dir and moved into place."""
    d = Path(directory)
    check_writable(d)
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}.", suffix=".tmp"))
    tmp.chmod(0o755)
    for task, records in tasks.items():
        lines = (json.dumps(r.to_json(), ensure_ascii=False) for r in records)
        (tmp / f"{task}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (tmp / MARKER).write_text(json.dumps({"tasks": sorted(tasks)}) + "\n")
    replace_dir(tmp, d)
    return d
