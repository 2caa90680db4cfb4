"""Read an export directory back into a model through its family's format (round trips, and tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from cola_core.config import Config
from cola_core.data.tokenizer import TextTokenizer, load_tokenizer
from cola_core.export import ExportFiles
from cola_core.registry import get_family
from cola_platform.errors import UserError
from cola_platform.export.tokenizer_files import TOKENIZER_JSON
from cola_platform.export.writer import MANIFEST, export_format


@dataclass
class LoadedExport:
    """An export directory read back: what it is, and the model it holds."""

    family: str
    format: str
    cfg: Config
    model: nn.Module
    tokenizer: TextTokenizer


def read_export_files(directory: Path) -> tuple[dict, ExportFiles]:
    """(manifest, the format's files as tensors and JSON objects) of an export directory; UserError if it is none."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{directory} is not an export directory (no {MANIFEST}): write one with python -m jobs.export")
    manifest = json.loads(manifest_path.read_text())
    tensors = {name: load_file(str(directory / name)) for name in manifest["tensor_files"]}
    objects = {name: json.loads((directory / name).read_text()) for name in manifest["json_files"]}
    return manifest, ExportFiles(tensors=tensors, json=objects)


def load_export(directory: str | Path) -> LoadedExport:
    """Rebuild the model of an export directory with its family's reader (no transformers needed)."""
    directory = Path(directory)
    manifest, files = read_export_files(directory)
    spec = get_family(manifest["family"])
    cfg, model = export_format(spec, manifest["format"]).read(files)
    return LoadedExport(spec.name, manifest["format"], cfg, model, load_tokenizer(directory / TOKENIZER_JSON))
