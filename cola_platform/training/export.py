"""Consolidated fp32 model export, and loading a finished run for sampling and evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_file
from torch import nn

from cola_core.config import Config
from cola_core.data.tokenizer import TextTokenizer, load_tokenizer
from cola_core.registry import FamilySpec, get_family
from cola_platform.errors import UserError
from cola_platform.training.run_dir import RunDir


def export_model(model: nn.Module, run: RunDir) -> None:
    """Write fp32 weights to RUN_DIR/model.safetensors atomically (the model itself is not touched)."""
    save_fp32(model, run.model)


def save_fp32(model: torch.nn.Module, path: Path) -> None:
    """The model's weights as fp32 safetensors, atomically; tied tensors are stored once.

    Like `safetensors.torch.save_model` (so `load_model` reads it back), but works when parameters
    are views into DeepSpeed's flat buffers, which `save_model` refuses.
    """
    state: dict[str, torch.Tensor] = {}
    metadata: dict[str, str] = {}
    owner: dict[tuple, str] = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype)
        if tensor.numel() and key in owner:  # a tied duplicate (e.g. shared embedding / head)
            metadata[name] = owner[key]
            continue
        owner[key] = name
        state[name] = tensor.detach().to("cpu", torch.float32).clone().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=metadata or None)
    tmp.replace(path)


@dataclass
class LoadedRun:
    """A finished run, ready to sample from or evaluate."""

    cfg: Config
    spec: FamilySpec
    model: nn.Module
    tokenizer: TextTokenizer
    run: RunDir


def load_run(run_dir: str | Path) -> LoadedRun:
    """Load config, tokenizer and exported weights of a run directory (no DeepSpeed needed)."""
    run = RunDir(Path(run_dir))
    if not run.root.is_dir():
        raise UserError(f"run directory {run.root} does not exist")
    for path in (run.config, run.model, run.tokenizer):
        if not path.is_file():
            raise UserError(f"{path} is missing: {run.root} is not a finished run (train it with python -m jobs.train)")
    try:
        cfg = Config.from_dict(json.loads(run.config.read_text()))
    except (json.JSONDecodeError, ValueError) as err:
        raise UserError(f"{run.config} is not a valid config ({err})") from None
    spec = get_family(cfg.run.family)
    cfg.run.init_from = ""  # the exported weights already hold everything
    model = spec.build_model(cfg)
    load_model(model, str(run.model))
    model.eval()
    return LoadedRun(cfg, spec, model, load_tokenizer(run.tokenizer), run)
