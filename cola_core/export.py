"""Export formats: how a family's trained model leaves the project (and is read back), with no I/O here.

A family lists its formats in `FamilySpec.export_formats` (AR and LLaDA: `llama`; Cola: `cola`). A
format turns (model, config) into `ExportFiles` (tensors per safetensors file, objects per JSON
file) and back; `cola_platform.export` writes and reads the files and adds the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from cola_core.config import Config


@dataclass(frozen=True)
class ExportFiles:
    """The contents of an export directory, apart from the tokenizer files the platform adds."""

    tensors: dict[str, dict[str, torch.Tensor]]
    """safetensors file name -> {tensor name -> tensor}: fresh fp32 copies, never the model's own storage."""
    json: dict[str, dict[str, Any]]
    """JSON file name -> object (e.g. `config.json`)."""


@dataclass(frozen=True)
class ExportFormat:
    """One way a family's trained model leaves the project, and how the project reads it back."""

    description: str
    """One line for `--help` and errors (what the files are and who can load them)."""
    write: Callable[[nn.Module, Config], ExportFiles]
    """(model, its config) -> the files; leaves the model untouched (copies; no in-place dtype change)."""
    read: Callable[[ExportFiles], tuple[Config, nn.Module]]
    """The files -> (a config that builds the model, the model holding the exported weights, in eval mode)."""


def tensor_copy(t: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous fp32 CPU copy of `t` (always a copy, even when `t` already is fp32 on CPU)."""
    return t.detach().to(device="cpu", dtype=torch.float32, copy=True).contiguous()
