"""Stage 2: stop-gradient context, Stage-1 initialisation and its reference encoder, lr scales, latent stats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_model, save_model

from cola_core.config import Config, ConfigError
from cola_core.families.cola.flow import fm_branch
from cola_core.families.cola.model import build_cola_model, prepare_latent_stats
from cola_core.families.cola.objective import ColaObjective, cola_param_groups
from cola_core.registry import get_family
from cola_core.train.loop import _group_lrs
from test_cola_helpers import tiny_cfg, tiny_model

STAGE2_METRICS = {"rec_ce", "recon_acc", "fm_loss", "ref_kl", "neg_entropy", "mask_ce", "logsnr"}


def _stage1_run(directory: Path, steps: int = 3, **model) -> Config:
    """Train a Stage-1 model a few steps and save it like a finished run (weights + config.json)."""
    cfg = tiny_cfg(stage=1, **model)
    torch.manual_seed(0)
    model1 = build_cola_model(cfg)
    assert model1.dit is None and model1.ref_encoder is None
    opt = torch.optim.AdamW(model1.parameters(), lr=1e-2)
    objective = ColaObjective(cfg)
    for step in range(steps):
        out = objective(model1, torch.randint(0, 40, (4, 16)), step)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
    directory.mkdir(parents=True, exist_ok=True)
    save_model(model1, str(directory / "model.safetensors"))
    cfg.save(directory / "config.json")
    return cfg


def _stage2_cfg(init_from: Path, evolution: str = "joint", **model) -> Config:
    cfg = tiny_cfg(stage=2, evolution=evolution, **model)
    cfg.run.init_from = str(init_from)
    return cfg


def test_fm_gives_no_gradient_to_context_latents() -> None:
    model = tiny_model(tiny_cfg())
    zn = torch.randn(2, 16, 8, requires_grad=True)
    seen = {}

    def grab(module: torch.nn.Module, args: tuple) -> None:
        seen["x"] = args[0]

    handle = model.dit.register_forward_pre_hook(grab)
    out = fm_branch(model.dit, zn, tiny_cfg().objective, block_size=4)
    handle.remove()
    x = seen["x"]  # (B, 2n, d): the DiT input
    (g_clean,) = torch.autograd.grad(x[:, :16].sum(), zn, retain_graph=True)
    (g_noisy,) = torch.autograd.grad(x[:, 16:].sum(), zn, retain_graph=True)
    assert torch.count_nonzero(g_clean) == 0, "the clean half must be stop-gradient"
    assert torch.count_nonzero(g_noisy) > 0, "the noisy half keeps its gradient path to the encoder"
    (g_loss,) = torch.autograd.grad(out.loss, zn)
    assert torch.isfinite(g_loss).all() and g_loss.abs().sum() > 0


def test_stage2_from_stage1_reference_kl_is_zero(tmp_path: Path) -> None:
    _stage1_run(tmp_path / "s1")
    cfg = _stage2_cfg(tmp_path / "s1")
    model = build_cola_model(cfg)
    saved = build_cola_model(tiny_cfg(stage=1))
    load_model(saved, str(tmp_path / "s1" / "model.safetensors"))
    for (name, a), b in zip(model.vae.state_dict().items(), saved.vae.state_dict().values()):
        assert torch.equal(a, b), name
    assert model.ref_encoder is not None and not any(p.requires_grad for p in model.ref_encoder.parameters())
    ref_ids = {id(p) for p in model.ref_encoder.parameters()}
    assert all(id(p) not in ref_ids for group in cola_param_groups(model, cfg).values() for p in group)
    out = ColaObjective(cfg)(model, torch.randint(0, 40, (4, 16)), 0)
    assert set(out.metrics) == STAGE2_METRICS
    assert abs(out.metrics["ref_kl"]) < 1e-6
    out.loss.backward()
    assert model.vae.encoder.head.weight.grad is not None and model.dit.in_proj.weight.grad is not None


def test_stage2_init_errors(tmp_path: Path) -> None:
    restored = build_cola_model(tiny_cfg(stage=2, evolution="joint"))  # empty init_from: a restore, no load
    with pytest.raises(ConfigError, match="init_from"):  # ... but a fresh training run needs Stage 1
        get_family("cola").prepare(restored, tiny_cfg(stage=2, evolution="joint"), lambda: torch.zeros(2, 16).long())
    with pytest.raises(ConfigError, match="model.safetensors"):
        build_cola_model(_stage2_cfg(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="model.safetensors"):
        build_cola_model(_stage2_cfg(tmp_path / "empty"))
    _stage1_run(tmp_path / "s1", steps=0)
    with pytest.raises(ConfigError, match="vae_dim"):
        build_cola_model(_stage2_cfg(tmp_path / "s1", vae_dim=64))
    with pytest.raises(ConfigError, match="vae_logsnr"):
        build_cola_model(_stage2_cfg(tmp_path / "s1", vae_logsnr="fixed:2"))
    (tmp_path / "s1" / "config.json").unlink()
    with pytest.raises(ConfigError, match="config.json"):
        build_cola_model(_stage2_cfg(tmp_path / "s1"))


def test_lr_scale_and_interval_in_loop_lrs() -> None:
    spec = get_family("cola")
    cfg = tiny_cfg(stage=2, evolution="joint")
    cfg.train.vae_lr_ratio, cfg.optim.warmup_steps = 0.01, 0
    lrs = _group_lrs(cfg, spec, ["dit", "vae"], 5)
    assert lrs["vae"] == pytest.approx(0.01 * lrs["dit"]) and lrs["dit"] > 0
    cfg.train.latent_evolution, cfg.train.interval_steps = "interval", 3
    vae = [_group_lrs(cfg, spec, ["dit", "vae"], s)["vae"] for s in range(12)]
    assert [v > 0 for v in vae] == [False] * 3 + [True] * 3 + [False] * 3 + [True] * 3
    assert all(_group_lrs(cfg, spec, ["dit"], s)["dit"] > 0 for s in range(12))
    stage1 = tiny_cfg(stage=1)
    stage1.train.vae_lr_ratio = 0.01
    assert spec.lr_scale(stage1, "vae", 0) == 1.0


def test_fixed_vae_is_frozen_and_gets_no_gradient(tmp_path: Path) -> None:
    _stage1_run(tmp_path / "s1", steps=0)
    cfg = _stage2_cfg(tmp_path / "s1", evolution="fixed_vae")
    model = build_cola_model(cfg)
    assert model.ref_encoder is None and set(cola_param_groups(model, cfg)) == {"dit"}
    out = ColaObjective(cfg)(model, torch.randint(0, 40, (2, 16)), 0)
    out.loss.backward()
    assert set(out.metrics) == STAGE2_METRICS
    assert all(p.grad is None for p in model.vae.parameters())
    assert model.dit.final.out.weight.grad is not None


def test_scratch_needs_no_stage1_and_has_no_reference() -> None:
    model = build_cola_model(tiny_cfg(stage=2, evolution="scratch"))
    assert model.ref_encoder is None and model.dit is not None


def test_prepare_estimates_latent_stats_and_checkpoints_carry_them(tmp_path: Path) -> None:
    cfg = tiny_cfg(stage=2, evolution="scratch")
    cfg.train.latent_stats_batches = 4
    model = tiny_model(cfg)
    gen = torch.Generator().manual_seed(0)
    batches = lambda: torch.randint(0, 40, (8, 16), generator=gen)  # noqa: E731
    get_family("cola").prepare(model, cfg, batches)
    assert not torch.equal(model.latent_scale, torch.ones(8))
    zn = model.normalize(model.vae.encode(batches()).sample()).flatten(0, 1)  # (B*N, d)
    assert zn.mean(0).abs().max() < 0.3 and (zn.std(0) - 1).abs().max() < 0.3
    assert torch.allclose(model.denormalize(model.normalize(zn)), zn, atol=1e-5)
    save_model(model, str(tmp_path / "m.safetensors"))
    fresh = build_cola_model(cfg)
    load_model(fresh, str(tmp_path / "m.safetensors"))
    assert torch.equal(fresh.latent_shift, model.latent_shift) and torch.equal(fresh.latent_scale, model.latent_scale)
    before = model.latent_shift.clone()
    prepare_latent_stats(model, tiny_cfg(stage=1), batches)  # Stage 1: no-op
    assert torch.equal(model.latent_shift, before)
