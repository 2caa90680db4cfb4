"""Shared builders for the Cola unit tests (no tests here; imported by the other test_cola_* files)."""

from __future__ import annotations

import torch

from cola_core.config import Config
from cola_core.families.cola.model import ColaModel, build_cola_model


def tiny_cfg(stage: int = 2, evolution: str = "scratch", **model) -> Config:
    """A very small Cola config (CPU, milliseconds per step)."""
    cfg = Config.for_family("cola")
    cfg.train.stage, cfg.train.latent_evolution = stage, evolution
    cfg.data.seq_len = 16
    m = cfg.model
    m.vocab_size, m.dim, m.n_layers, m.n_heads = 40, 32, 2, 2
    m.vae_dim, m.vae_layers, m.vae_heads, m.latent_dim, m.block_size = 32, 1, 2, 8, 4
    m.timestep_freq_dim = 32
    for key, value in model.items():
        setattr(m, key, value)
    return cfg


def randomize_adaln(model: torch.nn.Module, std: float = 0.2, seed: int = 0) -> None:
    """Give every adaLN modulation linear non-zero weights so information flows through the DiT blocks."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ada." in f".{name}":
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def tiny_model(cfg: Config, seed: int = 0) -> ColaModel:
    """Build (without a Stage-1 load) and randomise the adaLN weights."""
    torch.manual_seed(seed)
    model = build_cola_model(cfg, load_stage1=False)
    if model.dit is not None:
        randomize_adaln(model.dit, seed=seed)
    return model.eval()


def train_vae(cfg: Config, steps: int, batch: int, vocab_high: int, gen: torch.Generator) -> ColaModel:
    """A Stage-1 model trained `steps` AdamW steps (lr 3e-3, seed 0) on random tokens in [3, vocab_high) drawn
    from `gen`; returned in eval mode."""
    from cola_core.families.cola.objective import ColaObjective

    model = tiny_model(cfg).train()
    opt, objective = torch.optim.AdamW(model.parameters(), lr=3e-3), ColaObjective(cfg)
    torch.manual_seed(0)
    for _ in range(steps):
        opt.zero_grad()
        objective(model, torch.randint(3, vocab_high, (batch, cfg.data.seq_len), generator=gen), 0).loss.backward()
        opt.step()
    return model.eval()
