"""The in-process training engine: plain torch AdamW (or Muon + AdamW, `optim.name`). DeepSpeed's engine (cola_platform) has the same surface.

An engine owns the model+objective module and its optimizer, and exposes four calls the loop uses:
`forward_backward`, `step`, `save` and `load`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import load_model, save_model

from cola_core.config import Config
from cola_core.registry import LossOutput
from cola_core.train.objective_module import ObjectiveModule
from cola_core.train.optimizers import build_optimizer


class Engine(Protocol):
    """What the training loop needs from an engine."""

    module: ObjectiveModule
    group_names: list[str]
    """Names of the optimizer's parameter groups (the loop sets one lr per name)."""

    def forward_backward(self, tokens: torch.Tensor, step: int) -> LossOutput: ...

    def step(self, lrs: dict[str, float]) -> float: ...

    def save(self, directory: Path, client_state: dict[str, Any]) -> None: ...

    def load(self, directory: Path) -> dict[str, Any]: ...


class LocalEngine:
    """Single-process engine with gradient accumulation and global-norm clipping."""

    def __init__(self, module: ObjectiveModule, groups: list[dict], cfg: Config):
        self.module = module
        self._forward = torch.compile(module) if cfg.train.compile else module
        self.optimizer = build_optimizer(groups, cfg)
        self.grad_accum = cfg.train.grad_accum
        self.grad_clip = cfg.optim.grad_clip
        self._params = [p for g in groups for p in g["params"]]
        self.group_names = sorted({g["name"] for g in groups})

    def forward_backward(self, tokens: torch.Tensor, step: int) -> LossOutput:
        """One micro-batch: forward, scaled backward (gradients accumulate until `step`)."""
        out = self._forward(tokens, step)
        (out.loss / self.grad_accum).backward()
        return out

    def step(self, lrs: dict[str, float]) -> float:
        """Set each named group's lr, clip, update, zero grads; returns the pre-clip gradient norm."""
        for group in self.optimizer.param_groups:
            group["lr"] = lrs[group["name"]]
        max_norm = self.grad_clip if self.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self._params, max_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def save(self, directory: Path, client_state: dict[str, Any]) -> None:
        """Weights as safetensors, optimizer and client state (step, data position, RNG) as torch files."""
        directory.mkdir(parents=True, exist_ok=True)
        save_model(self.module.model, str(directory / "model.safetensors"))
        torch.save(self.optimizer.state_dict(), directory / "optimizer.pt")
        torch.save(client_state, directory / "client_state.pt")

    def load(self, directory: Path) -> dict[str, Any]:
        """Restore what `save` wrote; returns the client state."""
        load_model(self.module.model, str(directory / "model.safetensors"))
        self.optimizer.load_state_dict(torch.load(directory / "optimizer.pt", weights_only=False))
        return torch.load(directory / "client_state.pt", weights_only=False)
