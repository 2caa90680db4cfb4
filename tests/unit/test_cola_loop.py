"""A tiny Stage 1 run, then Stage 2 initialised from it, both through the real training loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cola_core.config import Config
from cola_core.registry import get_family
from cola_core.train.engine import LocalEngine
from cola_core.train.loop import LoopHooks, run_loop
from cola_core.train.objective_module import ObjectiveModule, named_param_groups
from test_cola_helpers import tiny_cfg


class MemoryStream:
    """Endless batches drawn from a few fixed, highly regular sequences (resumable position)."""

    def __init__(self, batch: int, seq_len: int, vocab: int, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        starts = torch.randint(3, vocab, (6, 1), generator=gen)
        steps = torch.randint(1, 4, (6, 1), generator=gen)
        self.pool = 3 + (starts + steps * torch.arange(seq_len)) % (vocab - 3)  # (6, L) arithmetic patterns
        self.batch, self.position = batch, 0

    def next_batch(self) -> torch.Tensor:
        idx = (torch.arange(self.batch) + self.position) % len(self.pool)
        self.position += self.batch
        return self.pool[idx]  # (B, L)

    def state(self) -> dict[str, Any]:
        return {"position": self.position}

    def load_state(self, state: dict[str, Any]) -> None:
        self.position = state["position"]


def _train(cfg: Config, out_dir: Path) -> tuple[Any, LocalEngine]:
    spec = get_family("cola")
    torch.manual_seed(cfg.train.seed)
    model = spec.build_model(cfg)
    stream = MemoryStream(cfg.train.micro_batch_size, cfg.data.seq_len, cfg.model.vocab_size)
    if spec.prepare is not None:
        spec.prepare(model, cfg, stream.next_batch)
    module = ObjectiveModule(model, spec.build_objective(cfg))
    engine = LocalEngine(module, named_param_groups(spec, model, cfg, cfg.optim.weight_decay), cfg)
    held_out = MemoryStream(4, cfg.data.seq_len, cfg.model.vocab_size, seed=0)
    records: list[dict] = []
    hooks = LoopHooks(
        on_record=[records.append],
        save_checkpoint=lambda step, state: (engine.save(out_dir, state), cfg.save(out_dir / "config.json")),
    )
    result = run_loop(cfg, spec, engine, stream, lambda: [held_out.next_batch()], hooks)
    return result, engine


def test_stage1_then_stage2_through_the_loop(tmp_path: Path) -> None:
    s1 = tiny_cfg(stage=1)
    s1.train.steps, s1.train.micro_batch_size, s1.train.eval_every, s1.train.log_every = 60, 6, 0, 10
    s1.optim.lr, s1.optim.warmup_steps = 1e-2, 5
    result1, _ = _train(s1, tmp_path / "s1")
    assert result1.final_loss < 0.7 * result1.initial_loss, (result1.initial_loss, result1.final_loss)
    assert {"eval_loss", "rec_ce", "recon_acc"} <= set(result1.eval)
    assert (tmp_path / "s1" / "model.safetensors").is_file()

    s2 = tiny_cfg(stage=2, evolution="joint")
    s2.train.steps, s2.train.micro_batch_size, s2.train.eval_every, s2.train.log_every = 40, 6, 0, 10
    s2.train.latent_stats_batches = 2
    s2.optim.lr, s2.optim.warmup_steps = 3e-3, 5
    s2.run.init_from = str(tmp_path / "s1")
    result2, engine = _train(s2, tmp_path / "s2")
    assert engine.group_names == ["dit", "vae"]
    assert result2.final_loss < result2.initial_loss, (result2.initial_loss, result2.final_loss)
    assert {"eval_loss", "fm_loss", "elbo_nats_per_token"} <= set(result2.eval)
    model = engine.module.model
    assert not torch.equal(model.latent_scale, torch.ones_like(model.latent_scale)), "prepare ran"
    sample = get_family("cola").build_sampler(model, s2).generate([[5, 6, 7]], 8)
    assert len(sample[0]) <= 8 and all(0 <= i < s2.model.vocab_size for i in sample[0])
