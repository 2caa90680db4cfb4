"""The layout of a run directory and the files every job reads or writes in it.

RUN_DIR/config.json        resolved config (written at start)
RUN_DIR/tokenizer.json     the data's tokenizer (so sampling needs nothing else)
RUN_DIR/metrics.jsonl      one JSON record per logged step / eval
RUN_DIR/checkpoints/step_N in-process checkpoints (Ray runs keep theirs in Ray's storage)
RUN_DIR/model.safetensors  consolidated fp32 weights, exported at the end
RUN_DIR/result.json        summary numbers, written last (its presence means "finished")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cola_core.utils.io import atomic_write_json


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def model(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    def finished(self) -> bool:
        """A run is finished once result.json and the exported model exist."""
        return self.result.is_file() and self.model.is_file()

    def write_result(self, result: dict[str, Any]) -> None:
        atomic_write_json(self.result, result)

    def read_result(self) -> dict[str, Any]:
        return json.loads(self.result.read_text())


class MetricsLog:
    """Appends records to metrics.jsonl. On resume, records past the resumed step are dropped first,
    so the file never holds a step twice."""

    def __init__(self, path: Path, resume_step: int = 0):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            kept = [
                ln
                for ln in path.read_text().splitlines()
                if ln.strip() and json.loads(ln).get("step", 0) <= resume_step
            ]
            path.write_text("".join(ln + "\n" for ln in kept))

    def __call__(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl."""
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
