"""Exports of trained runs (`python -m jobs.export`): each family's formats (`FamilySpec.export_formats`)
written as safetensors + JSON with the tokenizer, and read back. Needs no `transformers`."""

from cola_platform.export.reader import LoadedExport, load_export, read_export_files
from cola_platform.export.writer import MANIFEST, check_out_dir, export_format, write_export

__all__ = [
    "MANIFEST",
    "LoadedExport",
    "check_out_dir",
    "export_format",
    "load_export",
    "read_export_files",
    "write_export",
]
