"""Exact parameter counts and FLOPs per token, checked against built models and FlopCounterMode."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from cola_core.families.cola.accounting import (
    cola_flops_per_token,
    cola_param_counts,
    dit_row_flops,
    sampling_flops_per_token,
)
from cola_core.families.cola.model import build_cola_model
from cola_core.families.cola.objective import ColaObjective
from test_cola_helpers import tiny_cfg

aten = torch.ops.aten


def _sdpa_fwd(q, k, v, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(q, k, v)


def _sdpa_bwd(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, q, k, v)


# torch 2.13's FlopCounterMode has no formula for the CPU flash-attention kernel SDPA dispatches to
# under a boolean mask, so attention would count as 0; register the standard SDPA formulas for it.
CPU_SDPA = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_fwd,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_bwd,
}

CONFIGS = [
    dict(),
    dict(patch_size=2, vae_logsnr="fixed:1.5"),
    dict(patch_size=4, ffn_hidden=48, vae_ffn_hidden=40, n_layers=3, vae_layers=2, n_heads=4, latent_dim=16),
]


def _numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("overrides", CONFIGS)
def test_param_counts_match_built_models(overrides: dict) -> None:
    cfg = tiny_cfg(stage=2, evolution="scratch", **overrides)
    model = build_cola_model(cfg)
    counts = cola_param_counts(cfg.model)
    assert counts.total == _numel(model)
    assert counts.vae == _numel(model.vae) and counts.backbone == _numel(model.dit)
    vocab = model.vae.encoder.embed.weight.numel() + model.vae.decoder.head.weight.numel()
    assert counts.non_embedding == counts.total - vocab
    joint = tiny_cfg(stage=2, evolution="joint", **overrides)
    with_ref = build_cola_model(joint, load_stage1=False)
    assert _numel(with_ref) - _numel(with_ref.ref_encoder) == counts.total, "the frozen reference is not counted"
    assert _numel(build_cola_model(tiny_cfg(stage=1, **overrides))) == counts.vae


CASES = [
    (1, "joint", dict(), 0.5),
    (1, "joint", dict(patch_size=2, vae_logsnr="fixed:2"), 0.0),
    (2, "joint", dict(), 0.5),
    (2, "scratch", dict(patch_size=2), 0.0),
    (2, "fixed_vae", dict(patch_size=2), 0.5),
]


@pytest.mark.parametrize("stage,evolution,overrides,lambda_mask", CASES)
def test_train_flops_match_flop_counter(stage: int, evolution: str, overrides: dict, lambda_mask: float) -> None:
    cfg = tiny_cfg(stage=stage, evolution=evolution, vocab_size=256, dim=64, vae_dim=64, **overrides)
    cfg.data.seq_len, cfg.objective.lambda_mask = 64, lambda_mask
    torch.manual_seed(0)
    model = build_cola_model(cfg, load_stage1=False)
    tokens = torch.randint(0, 256, (2, 64))
    with FlopCounterMode(display=False, custom_mapping=CPU_SDPA) as counter:
        ColaObjective(cfg)(model, tokens, 0).loss.backward()
    measured = counter.get_total_flops() / tokens.numel()
    predicted = cola_flops_per_token(cfg).train
    assert predicted == pytest.approx(measured, rel=0.10), (predicted, measured, predicted / measured)


def test_forward_flops_and_sampling_flops() -> None:
    cfg = tiny_cfg(stage=2, evolution="scratch", vocab_size=256, dim=64, vae_dim=64)
    cfg.data.seq_len, cfg.objective.lambda_mask = 64, 0.0
    model = build_cola_model(cfg)
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_SDPA) as counter:
        ColaObjective(cfg)(model, torch.randint(0, 256, (2, 64)), 0)
    assert cola_flops_per_token(cfg).forward == pytest.approx(counter.get_total_flops() / 128, rel=0.05)
    cond, guided = sampling_flops_per_token(cfg, False), sampling_flops_per_token(cfg, True)
    assert cond < guided < 2 * cond
    z = torch.randn(1, 4, 8)
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_SDPA) as counter:
        model.dit(z, torch.zeros(1, 4), torch.arange(4), None)  # the uncond pass: block_size keys
    assert dit_row_flops(cfg.model, 4) == pytest.approx(counter.get_total_flops() / 4, rel=1e-6)
