"""The training optimizers: AdamW over every parameter group, or Muon for the hidden weight matrices and
AdamW for the rest (`optim.name`).

Muon (`torch.optim.Muon`) replaces each matrix's momentum by its nearest semi-orthogonal matrix
(Newton-Schulz iterations) and, with `adjust_lr_fn="match_rms_adamw"`, scales the update to AdamW's
RMS, so the config's lr and schedule serve both. Which parameters are Muon's is decided when the groups
are built (`objective_module.named_param_groups` marks them `muon`): every `nn.Linear` weight except the
output head; embeddings, norms, biases and the head stay on AdamW, as in the Muon papers.
"""

from __future__ import annotations

from typing import Any

import torch

from cola_core.config import Config


def adamw(groups: list[dict], cfg: Config) -> torch.optim.AdamW:
    """AdamW over prepared parameter groups, with the config's betas, eps and peak lr."""
    o = cfg.optim
    return torch.optim.AdamW(groups, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay)


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon for the groups marked `muon`, AdamW for the others, stepped together. `param_groups` lists both
    optimizers' groups (the same dicts), so the loop sets each group's lr by its name as for AdamW alone. A
    `torch.optim.Optimizer`, so DeepSpeed takes it as a client optimizer (ZeRO-0: whole matrices)."""

    def __init__(self, groups: list[dict], cfg: Config):
        o = cfg.optim
        self.muon = torch.optim.Muon(
            [g for g in groups if g.get("muon")], lr=o.lr, weight_decay=o.weight_decay, adjust_lr_fn="match_rms_adamw"
        )
        self.adamw = adamw([g for g in groups if not g.get("muon")], cfg)
        super().__init__([p for g in groups for p in g["params"]], {})
        self.param_groups = [*self.muon.param_groups, *self.adamw.param_groups]

    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])
        self.param_groups = [*self.muon.param_groups, *self.adamw.param_groups]  # loading made new group dicts


def build_optimizer(groups: list[dict], cfg: Config) -> torch.optim.AdamW | MuonWithAdamW:
    """The optimizer `optim.name` asks for over the prepared groups."""
    return MuonWithAdamW(groups, cfg) if cfg.optim.name == "muon" else adamw(groups, cfg)
