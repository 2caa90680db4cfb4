"""Text sources named by one URI: `storyworld`, `file:PATH` (a .txt/.jsonl file, directory or glob)."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cola_platform.errors import UserError

TEXT_SUFFIXES = (".txt", ".jsonl")


@dataclass(frozen=True)
class Source:
    """A parsed `--source` value."""

    uri: str
    num_docs: int = 0
    """Documents to take (storyworld: to generate; 0 = all for files)."""
    seed: int = 0
    text_field: str = "text"

    def describe(self) -> str:
        """The manifest's `source` string."""
        if self.uri == "storyworld":
            return f"storyworld(num_docs={self.num_docs}, seed={self.seed})"
        return self.uri

    def texts(self) -> Iterator[str]:
        """Yield documents (stripped, non-empty)."""
        if self.uri == "storyworld":
            if self.num_docs <= 0:
                raise UserError("--source storyworld needs --num-docs N (N > 0)")
            from cola_core.data.storyworld import iter_texts

            yield from iter_texts(self.num_docs, seed=self.seed)
            return
        count = 0
        for path in local_files(self.uri):
            for text in _read_file(path, self.text_field):
                text = text.replace("\r\n", "\n").strip()
                if text:
                    yield text
                    count += 1
                    if self.num_docs and count >= self.num_docs:
                        return


def local_files(uri: str) -> list[Path]:
    """Resolve `file:PATH` (file, directory or glob) to .txt/.jsonl files, with clear errors."""
    path = uri[len("file:"):] if uri.startswith("file:") else uri
    path = path[2:] if path.startswith("//") else path
    if any(ch in path for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(path))
    elif Path(path).is_dir():
        files = sorted(p for p in Path(path).rglob("*") if p.suffix in TEXT_SUFFIXES)
    elif Path(path).is_file():
        files = [Path(path)]
    else:
        raise UserError(f"source path {path} does not exist")
    files = [f for f in files if f.suffix in TEXT_SUFFIXES]
    if not files:
        raise UserError(f"no {'/'.join(TEXT_SUFFIXES)} files under {path}")
    return files


def _read_file(path: Path, text_field: str) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8") as f:
            if path.suffix == ".jsonl":
                for n, line in enumerate(f, 1):
                    if line.strip():
                        yield str(json.loads(line)[text_field])
            else:
                yield f.read()
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text at byte {err.start}") from None
    except (json.JSONDecodeError, KeyError) as err:
        raise UserError(f"{path}: bad JSONL record ({type(err).__name__}: {err}); use --text-field to pick the text field") from None
