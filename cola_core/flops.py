"""Compute budgets: training FLOPs <-> steps for a family, preset and batch (paper-style EFLOPs)."""

from __future__ import annotations

from dataclasses import dataclass

from cola_core.config import Config

EFLOP = 1e18


@dataclass(frozen=True)
class BudgetPlan:
    """Steps that spend a FLOPs budget, and what they actually spend."""

    steps: int
    tokens: int
    flops: float
    flops_per_step: float


def flops_per_step(cfg: Config, world_size: int = 1) -> float:
    """Training FLOPs of one optimizer step (global batch = micro x accum x workers)."""
    from cola_core.registry import get_family

    tokens = cfg.data.seq_len * cfg.train.micro_batch_size * cfg.train.grad_accum * max(world_size, 1)
    return get_family(cfg.run.family).flops_per_token(cfg).train * tokens


def steps_for_budget(cfg: Config, budget_flops: float, world_size: int = 1) -> BudgetPlan:
    """Nearest whole number of steps to `budget_flops` (at least one)."""
    per_step = flops_per_step(cfg, world_size)
    steps = max(1, round(budget_flops / per_step))
    tokens = steps * cfg.data.seq_len * cfg.train.micro_batch_size * cfg.train.grad_accum * max(world_size, 1)
    return BudgetPlan(steps=steps, tokens=tokens, flops=steps * per_step, flops_per_step=per_step)


def to_eflops(flops: float) -> float:
    """FLOPs -> EFLOPs (1e18), the paper's unit."""
    return flops / EFLOP
