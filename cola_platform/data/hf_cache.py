"""`hf:NAME[:SPLIT]` sources: Hugging Face datasets that are already in the local cache (never downloaded).

Two places are looked at, in order:

1. the Hub cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), where a
   downloaded dataset repository keeps its raw files under
   `datasets--OWNER--NAME/snapshots/REVISION/`. Its .parquet/.jsonl/.txt files of the split are
   read with the project's own readers, so this works without the `datasets` package;
2. the `datasets` library's processed cache, through `datasets.load_dataset(NAME, split=SPLIT)`
   with `HF_DATASETS_OFFLINE=1` (only when `datasets` is installed).

Anything else is a one-line error that says where it looked and how to make the data available.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cola_platform.errors import UserError

SUFFIXES = (".parquet", ".jsonl", ".txt")


@dataclass(frozen=True)
class HFName:
    """A parsed `hf:NAME[:SPLIT]`."""

    name: str
    split: str = "train"

    @classmethod
    def parse(cls, uri: str) -> HFName:
        """`hf:owner/name` or `hf:owner/name:validation`."""
        body = uri[len("hf:") :].strip("/")
        name, _, split = body.partition(":")
        if not name:
            raise UserError(
                f"--source {uri!r}: expected hf:NAME or hf:NAME:SPLIT, e.g. hf:roneneldan/TinyStories:train"
            )
        return cls(name, split or "train")


def hub_cache_dir() -> Path:
    """Where the Hugging Face Hub cache lives on this machine."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()
    return home / "hub"


def snapshot_dir(name: str) -> Path | None:
    """The cached snapshot of dataset repo `name` (the `main` ref, else the newest), or None."""
    repo = hub_cache_dir() / ("datasets--" + name.replace("/", "--"))
    snaps = repo / "snapshots"
    if not snaps.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file() and (snaps / ref.read_text().strip()).is_dir():
        return snaps / ref.read_text().strip()
    found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def split_files(hf: HFName) -> list[tuple[Path, str]]:
    """(absolute path, path within the repo) of the cached data files of the split; [] when not cached."""
    snap = snapshot_dir(hf.name)
    if snap is None:
        return []
    files = sorted(p for p in snap.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    rels = [(p.resolve(), p.relative_to(snap).as_posix()) for p in files]
    pattern = re.compile(rf"(^|[/_.-]){re.escape(hf.split)}([/_.-]|$)")
    chosen = [(p, r) for p, r in rels if pattern.search(r)]
    if not chosen and rels:
        listed = ", ".join(r for _, r in rels[:8])
        raise UserError(
            f"hf:{hf.name}: the cached snapshot {snap} has no files for split {hf.split!r} "
            f"(it has: {listed}); name the split as hf:{hf.name}:SPLIT"
        )
    return chosen


def datasets_available() -> bool:
    """True when the `datasets` package can be imported."""
    try:
        import datasets  # noqa: F401
    except ImportError:
        return False
    return True


def load_cached(hf: HFName) -> Any:
    """`datasets.load_dataset(NAME, split=SPLIT)` from the local cache only (offline)."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    import datasets

    try:
        return datasets.load_dataset(hf.name, split=hf.split)
    except Exception as err:  # datasets raises many types for "not cached"
        raise UserError(
            f"hf:{hf.name}:{hf.split} is not in the local Hugging Face cache ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); downloads are disabled here"
        ) from None


def num_rows(hf: HFName) -> int:
    """Rows of a cached `datasets` split."""
    return len(load_cached(hf))


def iter_rows(hf: HFName, start: int, stop: int, text_field: str) -> Iterator[tuple[int, Any]]:
    """(row index, text value) for rows [start, stop) of a cached `datasets` split."""
    ds = load_cached(hf)
    if text_field not in ds.column_names:
        raise UserError(
            f"hf:{hf.name}: no column {text_field!r} (columns: {', '.join(ds.column_names)}); "
            "pick one with --text-field"
        )
    for a in range(start, stop, 256):
        values = ds[a : min(stop, a + 256)][text_field]
        for i, value in enumerate(values):
            yield a + i, value


def not_cached_error(hf: HFName) -> UserError:
    """The error for a dataset found nowhere locally."""
    hint = "" if datasets_available() else " and the `datasets` package is not installed"
    return UserError(
        f"hf:{hf.name} is not in the local Hugging Face cache (looked in {hub_cache_dir()}){hint}; "
        "downloads are disabled here: copy the dataset's files into the cache (HF_HOME) "
        "or pass them as --source file:PATH"
    )
