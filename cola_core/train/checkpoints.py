"""Local checkpoint directories `<root>/step_<N>/`, written atomically and pruned to the newest K."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Callable

_STEP_DIR = re.compile(r"^step_(\d+)$")


class LocalCheckpoints:
    """Checkpoint directories under `root`; a directory exists only once it is complete."""

    def __init__(self, root: Path, keep: int = 2):
        self.root, self.keep = Path(root), max(1, keep)

    def steps(self) -> list[int]:
        """Completed checkpoint steps, ascending."""
        if not self.root.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir() if (m := _STEP_DIR.match(p.name)))

    def latest(self) -> Path | None:
        """The newest complete checkpoint directory, if any."""
        steps = self.steps()
        return self.root / f"step_{steps[-1]}" if steps else None

    def save(self, step: int, write: Callable[[Path], Any]) -> Path:
        """Call `write(tmp_dir)`, then rename it to `step_<N>` and prune old ones."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-step_{step}"
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        final = self.root / f"step_{step}"
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in self.steps()[: -self.keep]:
            shutil.rmtree(self.root / f"step_{old}", ignore_errors=True)
        return final
