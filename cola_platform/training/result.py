"""The `result.json` of a training run: the job contract's numbers, identical for every family."""

from __future__ import annotations

import subprocess
from typing import Any

from cola_core.config import Config
from cola_core.registry import get_family
from cola_core.train.loop import LoopResult


def git_commit() -> str:
    """The checkout's commit, or '' outside a git checkout (e.g. a Ray working_dir upload)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def build_result(cfg: Config, loop: LoopResult, world_size: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble result.json from the resolved config and the loop summary."""

    spec = get_family(cfg.run.family)
    counts = spec.count_params(cfg.model)
    flops = spec.flops_per_token(cfg)
    t = cfg.train
    result: dict[str, Any] = {
        "family": cfg.run.family,
        "preset": cfg.run.preset,
        "name": cfg.run.name,
        "study": cfg.run.study,
        "config_hash": cfg.hash(),
        "data": cfg.data.path,
        "steps": loop.steps,
        "initial_loss": loop.initial_loss,
        "final_loss": loop.final_loss,
        "eval_loss": loop.eval.get("eval_loss", float("nan")),
        "eval": loop.eval,
        "params_total": counts.total,
        "params_non_embedding": counts.non_embedding,
        "params_backbone": counts.backbone,
        "params_vae": counts.vae,
        "train_flops": loop.train_flops,
        "train_flops_per_token": flops.train,
        "tokens_seen": loop.tokens_seen,
        "tokens_per_second": loop.tokens_per_second,
        "train_seconds": loop.train_seconds,
        "world_size": world_size,
        "zero_stage": t.zero_stage if t.workers > 0 else 0,
        "micro_batch_size": t.micro_batch_size,
        "grad_accum": t.grad_accum,
        "global_batch_size": t.micro_batch_size * t.grad_accum * world_size,
        "global_batch_tokens": t.micro_batch_size * t.grad_accum * world_size * cfg.data.seq_len,
        "seq_len": cfg.data.seq_len,
        "git_commit": git_commit(),
    }
    for field_name in get_family(cfg.run.family).result_fields:  # e.g. Cola's stage
        section, key = field_name.split(".")
        result[key] = getattr(getattr(cfg, section), key)
    result.update(extra or {})
    return result
