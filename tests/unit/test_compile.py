"""`train.compile`: the compiled training forward computes the same losses and updates as eager."""

from __future__ import annotations

import torch

from cola_core.presets import resolve_config
from cola_core.registry import get_family
from cola_core.train.engine import LocalEngine
from cola_core.train.objective_module import ObjectiveModule, named_param_groups


def _losses(compile_forward: bool, steps: int = 3) -> list[float]:
    cfg = resolve_config("ar", "tiny", {"model.vocab_size": 64, "train.compile": compile_forward})
    spec = get_family("ar")
    torch.manual_seed(0)
    model = spec.build_model(cfg)
    engine = LocalEngine(
        ObjectiveModule(model, spec.build_objective(cfg)),
        named_param_groups(spec, model, cfg, cfg.optim.weight_decay),
        cfg,
    )
    tokens = torch.randint(3, 64, (4, 32), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(steps):
        losses.append(engine.forward_backward(tokens, 0).loss.item())
        engine.step({name: 1e-2 for name in engine.group_names})
    return losses


def test_compiled_training_matches_eager() -> None:
    eager, compiled = _losses(False), _losses(True)
    assert eager[-1] < eager[0]  # the steps do train
    assert all(abs(a - b) < 1e-4 for a, b in zip(eager, compiled)), (eager, compiled)
