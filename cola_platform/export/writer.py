"""Write one export directory: the family format's safetensors and JSON files, the tokenizer files and a
`result.json` manifest, all into a temporary sibling that is renamed into place at the end."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from cola_core.config import Config
from cola_core.data.tokenizer import TextTokenizer
from cola_core.export import ExportFormat
from cola_core.registry import FamilySpec, get_family
from cola_core.utils.io import replace_dir
from cola_platform.errors import UserError
from cola_platform.export.tokenizer_files import tokenizer_files

log = logging.getLogger(__name__)

MANIFEST = "result.json"
"""What an export directory holds: family, format, source run, tokenizer hash, the format's files."""


def export_format(spec: FamilySpec, name: str) -> ExportFormat:
    """The family's format `name`, or a UserError naming the formats it has."""
    if name not in spec.export_formats:
        have = ", ".join(sorted(spec.export_formats)) or "none"
        raise UserError(f"a {spec.name} model cannot be exported as {name!r} (its export formats: {have})")
    return spec.export_formats[name]


def check_out_dir(out: Path) -> None:
    """Refuse an output path that exists and is not an empty directory (an export never overwrites)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty: pass a new --out (an export never overwrites)")


def write_export(
    model: nn.Module, cfg: Config, tokenizer: TextTokenizer, fmt_name: str, out: Path, source: str = ""
) -> dict[str, Any]:
    """Export `model` (family `cfg.run.family`) in format `fmt_name` to the directory `out`; returns the
    manifest. The model is only read. Nothing is left at `out` if anything fails."""
    spec = get_family(cfg.run.family)
    fmt = export_format(spec, fmt_name)
    check_out_dir(out)
    files = fmt.write(model, cfg)
    texts = tokenizer_files(tokenizer, cfg.data.seq_len)
    clash = (set(files.tensors) | set(files.json)) & (set(texts) | {MANIFEST})
    if clash:
        raise ValueError(f"the {fmt_name} format writes files the export itself writes: {sorted(clash)}")
    manifest = {
        "family": spec.name,
        "format": fmt_name,
        "description": fmt.description,
        "source_run": source,
        "tokenizer_hash": tokenizer.fingerprint(),
        "tensor_files": sorted(files.tensors),
        "json_files": sorted(files.json),
    }
    texts.update({name: json.dumps(obj, indent=2) + "\n" for name, obj in {**files.json, MANIFEST: manifest}.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        for name, tensors in files.tensors.items():
            save_file(tensors, str(tmp / name), metadata={"format": "pt"})
        for name, text in texts.items():
            (tmp / name).write_text(text)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported the %s run %s as %s to %s", spec.name, source or "(in memory)", fmt_name, out)
    return manifest
