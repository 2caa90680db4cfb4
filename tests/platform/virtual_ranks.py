"""The in-process reference of a W-worker data-parallel run (shared by the distributed tests).

`reference_run` trains on the same global batches as a strided Ray Train run (rows in the manifest's
order, shuffled by the same seed when `data.shuffle` is on): its engine runs the W ranks' parts of each
micro-batch one after the other, each under that rank's RNG stream (rank 0 continues the run's stream,
rank r re-seeds from `rank_seed(seed, r)`, exactly as the workers do), so LLaDA's masks and Cola's noise
match too.
"""

from __future__ import annotations

from typing import Any

import torch

from cola_core.config import Config
from cola_core.registry import LossOutput
from cola_core.train.loop import LoopHooks, run_loop
from cola_core.train.optimizers import build_optimizer
from cola_core.utils.seeding import rng_state, seed_everything, set_rng_state
from cola_platform.data.array_stream import ArrayBatchStream, fixed_batches
from cola_platform.data.shards import read_split
from cola_platform.training.setup import build_trainable
from cola_platform.training.worker import prepare_on_rank0, rank_seed


class VirtualRanksEngine:
    """Single-process engine for a W-rank data-parallel step: each micro-batch is split into W parts,
    part r runs under rank r's RNG stream, gradients average over all parts (as DeepSpeed's do)."""

    def __init__(self, module: torch.nn.Module, groups: list[dict], cfg: Config, rng_states: list[dict]):
        self.module, self.cfg, self.states = module, cfg, rng_states
        self.optimizer = build_optimizer(groups, cfg)
        self.group_names = sorted({g["name"] for g in groups})
        self._params = [p for g in groups for p in g["params"]]

    def forward_backward(self, tokens: torch.Tensor, step: int) -> LossOutput:
        outs = []
        for r, part in enumerate(tokens.chunk(len(self.states))):
            set_rng_state(self.states[r])
            out = self.module(part, step)
            (out.loss / (self.cfg.train.grad_accum * len(self.states))).backward()
            self.states[r] = rng_state()
            outs.append(out)
        metrics = {k: sum(o.metrics[k] for o in outs) / len(outs) for k in outs[0].metrics}
        return LossOutput(torch.stack([o.loss.detach() for o in outs]).mean(), metrics)

    def step(self, lrs: dict[str, float]) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lrs[group["name"]]
        norm = torch.nn.utils.clip_grad_norm_(self._params, self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)


def reference_run(cfg: Config, manifest: Any, data: str, world: int) -> dict[str, Any]:
    """The in-process loop on the global batches and per-rank RNG streams of a `world`-worker strided run:
    its logged losses and final eval loss (on the first validation micro-batch)."""
    seed_everything(cfg.train.seed)
    trainable = build_trainable(cfg)
    if trainable.spec.prepare is not None:
        prepare_on_rank0(trainable, cfg, manifest, rank=0)
    states = [rng_state()]
    for r in range(1, world):
        seed_everything(rank_seed(cfg.train.seed, r))
        states.append(rng_state())
    set_rng_state(states[0])
    engine = VirtualRanksEngine(trainable.module, trainable.groups, cfg, states)
    micro = cfg.train.micro_batch_size
    rows = read_split(data, manifest, "train")
    stream = ArrayBatchStream(rows, micro * world, cfg.train.seed, shuffle=cfg.data.shuffle)
    val = read_split(data, manifest, "validation")
    records: list[dict] = []
    loop = run_loop(
        cfg,
        trainable.spec,
        engine,
        stream,
        lambda: fixed_batches(val, micro, 1),
        LoopHooks(on_record=[records.append]),
        world_size=world,
    )
    return {"losses": [r["loss"] for r in records if "loss" in r], "eval": loop.eval["eval_loss"]}
