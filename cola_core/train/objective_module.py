"""Binds a family's model and objective into one module whose forward returns the loss.

Engines (the local one here, DeepSpeed in cola_platform) then only ever call `module(tokens, step)`.
"""

from __future__ import annotations

import torch
from torch import nn

from cola_core.config import Config
from cola_core.registry import FamilySpec, LossOutput, Objective


class ObjectiveModule(nn.Module):
    """`forward(tokens, step) -> LossOutput`; `.model` is the family's model."""

    def __init__(self, model: nn.Module, objective: Objective):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, tokens: torch.Tensor, step: int = 0) -> LossOutput:
        return self.objective(self.model, tokens, step)


def named_param_groups(spec: FamilySpec, model: nn.Module, cfg: Config, weight_decay: float) -> list[dict]:
    """Optimizer groups: each named family group split into decay (matrices) and no-decay (vectors); with
    `optim.name=muon`, its hidden `nn.Linear` weights (all but the output head) form a third group marked
    `muon` (`cola_core/train/optimizers.py`)."""
    named = spec.param_groups(model, cfg) if spec.param_groups else {"all": list(model.parameters())}
    muon = muon_matrices(model, cfg) if cfg.optim.name == "muon" else set()
    groups: list[dict] = []
    for name, params in named.items():
        params = [p for p in params if p.requires_grad]
        orthogonal = [p for p in params if id(p) in muon]
        decay = [p for p in params if p.dim() >= 2 and id(p) not in muon]
        no_decay = [p for p in params if p.dim() < 2]
        if orthogonal:
            groups.append({"params": orthogonal, "weight_decay": weight_decay, "name": name, "muon": True})
        for plist, wd in ((decay, weight_decay), (no_decay, 0.0)):
            if plist:
                groups.append({"params": plist, "weight_decay": wd, "name": name})
    return groups


def muon_matrices(model: nn.Module, cfg: Config) -> set[int]:
    """ids of the weights Muon updates: every `nn.Linear` weight except an output head (a layer onto the
    vocabulary); embeddings are `nn.Embedding` and a tied head is the embedding, so both stay on AdamW."""
    return {
        id(m.weight) for m in model.modules() if isinstance(m, nn.Linear) and m.out_features != cfg.model.vocab_size
    }
