"""`optim.name = "muon"`: Muon updates a 2-D weight by the Newton-Schulz orthogonalised momentum (checked
against the iteration computed here), only hidden `nn.Linear` weights are Muon's, a tiny AR model trains
and resumes with it in process, DeepSpeed runs refuse it, and the new field leaves old run names alone."""

import math

import pytest
import torch
from torch import nn

from cola_core.config import Config, ConfigError, apply_overrides
from cola_core.config_checks import validate
from cola_core.registry import get_family
from cola_core.train.objective_module import named_param_groups
from cola_core.train.optimizers import MuonWithAdamW, build_optimizer

NS = (3.4445, -4.775, 2.0315)


def newton_schulz(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """The quintic iteration X <- aX + (bA + cA^2)X, A = XX^T, from X = G / ||G||_F (wide orientation)."""
    x = g.double()
    wide = x.shape[0] <= x.shape[1]
    x = x if wide else x.T
    x = x / x.norm()
    a, b, c = NS
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x if wide else x.T


def muon_cfg(**over) -> Config:
    return apply_overrides(Config(), {"optim.name": "muon", "optim.lr": 0.01, "optim.weight_decay": 0.1, **over})


@pytest.mark.parametrize("shape", [(8, 12), (12, 8)])
def test_muon_step_is_the_orthogonalised_momentum_scaled_to_adamw_rms(shape):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(shape))
    bias = nn.Parameter(torch.randn(shape[0]))
    before, grad = w.detach().clone(), torch.randn(shape)
    opt = build_optimizer([{"params": [w], "name": "all", "muon": True}, {"params": [bias], "name": "all"}], muon_cfg())
    assert isinstance(opt, MuonWithAdamW) and [g["name"] for g in opt.param_groups] == ["all", "all"]
    w.grad, bias.grad = grad.clone(), torch.zeros_like(bias)
    opt.step()
    # first step: momentum buffer = (1 - 0.95) g, Nesterov update = lerp(g, buf, 0.95)
    update = newton_schulz(torch.lerp(grad, (1 - 0.95) * grad, 0.95))
    lr = 0.01
    expected = before.double() * (1 - lr * 0.1) - lr * 0.2 * math.sqrt(max(shape)) * update
    scale = (lr * 0.2 * math.sqrt(max(shape))) * update.abs().max()
    assert (w.detach().double() - expected).abs().max() < 0.05 * scale  # torch iterates in bfloat16
    assert (w.detach().double() - before.double()).abs().max() > 0.5 * scale  # and the step did move it


def test_only_hidden_linear_weights_are_muons(tmp_path):
    cfg = muon_cfg(**{"model.vocab_size": 64, "model.dim": 32, "model.n_heads": 4, "model.n_layers": 2})
    spec = get_family("ar")
    model = spec.build_model(cfg)
    groups = named_param_groups(spec, model, cfg, 0.1)
    muon = {id(p) for g in groups if g.get("muon") for p in g["params"]}
    linear = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    heads = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 64}
    assert muon and muon == linear - heads and not muon & embeddings
    assert all(p.dim() == 2 for g in groups if g.get("muon") for p in g["params"])
    adamw_only = named_param_groups(spec, model, apply_overrides(cfg, {"optim.name": "adamw"}), 0.1)
    assert not any(g.get("muon") for g in adamw_only)


def test_deepspeed_runs_refuse_muon_and_the_default_keeps_old_run_names():
    cfg = muon_cfg()
    with pytest.raises(ConfigError, match="optim.name=muon needs train.zero_stage=0 on Ray Train"):
        validate(apply_overrides(cfg, {"train.workers": 2, "train.zero_stage": 2}))
    assert validate(apply_overrides(cfg, {"train.workers": 2, "train.zero_stage": 0})).optim.name == "muon"
    with pytest.raises(ConfigError, match="optim.name='lion' must be one of adamw, muon"):
        validate(apply_overrides(cfg, {"optim.name": "lion"}))
    plain = Config()
    assert plain.hash() == Config.from_dict(plain.to_dict()).hash()
    assert apply_overrides(Config(), {"optim.name": "muon"}).hash() != plain.hash()
    assert plain.hash() == "0b5022fb0a"  # its name before optim.name existed (test_config pins more)
