"""Distributed-platform overhead: W Ray Train workers under DeepSpeed vs one in-process loop.

All runs train the same AR preset on the same prepared storyworld data for the same steps and global
batch G: in-process with all cores (micro = G), in-process with one thread, and W Ray Train workers
under ZeRO (micro = G / W, cores / W threads each). Every step is logged, so each run yields
per-step times: the first `warmup` steps are dropped and the median and spread of the rest give
tokens/s. `ratio_to_in_process` is the distributed rate over the all-cores in-process rate (the
target is >= 0.9); parallel efficiency is the distributed rate over W x the one-thread rate.
`fixed_cost` is the wall time of a short Ray Train run minus its training time (worker-group start,
DeepSpeed init, ingest start, checkpoint + export, result collection).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from cola_platform.bench.measure import timing_of
from cola_platform.training.run_dir import read_metrics

log = logging.getLogger(__name__)


def step_seconds(metrics_path: Path) -> list[float]:
    """Per-step seconds from a metrics.jsonl logged every step (tokens / cumulative tokens/s)."""
    records = [r for r in read_metrics(metrics_path) if "tokens_per_second" in r]
    elapsed = [r["tokens"] / r["tokens_per_second"] for r in records]
    return [b - a for a, b in zip([0.0, *elapsed[:-1]], elapsed)]


def prepare_storyworld(workdir: Path, docs: int, seq_len: int, vocab_size: int) -> str:
    """Prepared storyworld shards under `workdir` (reused when already there)."""
    from cola_platform.data.manifest import MANIFEST
    from cola_platform.data.prepare_local import PrepareSpec, prepare_texts
    from cola_platform.data.sources import Source

    out = workdir / f"sw-{docs}-{seq_len}-{vocab_size}"
    if not (out / MANIFEST).is_file():
        source = Source("storyworld", num_docs=docs)
        prepare_texts(
            PrepareSpec(
                out=str(out),
                seq_len=seq_len,
                vocab_size=vocab_size,
                source=source.describe(),
                val_fraction=0.02,
                shard_rows=1024,
            ),
            source.texts(),
        )
    return str(out)


def bench_platform(
    preset: str = "xs",
    steps: int = 30,
    warmup: int = 5,
    global_batch: int = 64,
    workers: int = 2,
    zero: int = 2,
    docs: int = 3000,
    seq_len: int = 128,
    vocab_size: int = 4096,
    workdir: str | None = None,
) -> dict[str, Any]:
    """Run the three trainings and the fixed-cost run; tokens/s medians and the distributed ratio."""
    from cola_platform.data.ray_env import ensure_ray
    from cola_platform.training.distributed import train_distributed
    from cola_platform.training.local import train_in_process
    from cola_platform.training.setup import config_for_data

    if global_batch % workers:
        raise ValueError(f"global batch {global_batch} must be divisible by {workers} workers")
    if steps <= warmup:
        raise ValueError(f"steps={steps} must exceed warmup={warmup}")
    ensure_ray()
    root = Path(workdir or tempfile.mkdtemp(prefix="bench-platform-")).resolve()  # Ray workers have another cwd
    data = prepare_storyworld(root, docs, seq_len, vocab_size)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    common = {
        "train.steps": steps,
        "train.log_every": 1,
        "train.eval_every": 0,
        "train.ckpt_every": 0,
        "train.eval_batches": 1,
    }
    dist_key = f"ray_{workers}w_zero{zero}"
    runs = {
        "in_process": {**common, "train.micro_batch_size": global_batch},
        "in_process_1thread": {**common, "train.micro_batch_size": global_batch, "train.threads": 1},
        dist_key: {
            **common,
            "train.micro_batch_size": global_batch // workers,
            "train.workers": workers,
            "train.zero_stage": zero,
        },
    }
    figures: dict[str, Any] = {
        "preset": preset,
        "steps": steps,
        "warmup_steps": warmup,
        "global_batch": global_batch,
        "seq_len": seq_len,
        "workers": workers,
        "zero_stage": zero,
    }
    for label, overrides in runs.items():
        cfg, manifest = config_for_data("ar", preset, data, {**overrides, "run.name": f"bench-{label}-{stamp}"})
        out = root / "runs" / cfg.run.name
        start = time.perf_counter()
        result = (train_distributed if cfg.train.workers else train_in_process)(cfg, out, manifest)
        wall = time.perf_counter() - start
        t = timing_of(step_seconds(out / "metrics.jsonl")[warmup:], warmup)
        figures[label] = {
            "tokens_per_second": global_batch * seq_len / t.median,
            "step_seconds": t.as_dict(),
            "wall_seconds": wall,
            "train_seconds": result["train_seconds"],
            "final_loss": result["final_loss"],
            "world_size": result["world_size"],
            "micro_batch_size": result["micro_batch_size"],
        }
        log.info(
            "platform %s: %.0f tokens/s (spread %.1f%%)", label, figures[label]["tokens_per_second"], 100 * t.spread
        )
    rate = figures[dist_key]["tokens_per_second"]
    figures["ratio_to_in_process"] = rate / figures["in_process"]["tokens_per_second"]
    figures["parallel_efficiency"] = rate / (workers * figures["in_process_1thread"]["tokens_per_second"])
    figures["fixed_cost"] = ray_train_fixed_cost(root)
    return figures


def ray_train_fixed_cost(workdir: Path, steps: int = 5) -> dict[str, Any]:
    """Wall time of a short 1-worker tiny AR Ray Train run minus its training time."""
    from cola_platform.training.distributed import train_distributed
    from cola_platform.training.setup import config_for_data

    data = prepare_storyworld(workdir, docs=800, seq_len=64, vocab_size=512)
    cfg, manifest = config_for_data(
        "ar",
        "tiny",
        data,
        {
            "train.steps": steps,
            "train.workers": 1,
            "train.threads": 1,
            "train.ckpt_every": 0,
            "train.eval_batches": 1,
            "run.name": f"bench-fixed-{time.strftime('%H%M%S')}",
        },
    )
    start = time.perf_counter()
    result = train_distributed(cfg, workdir / "runs" / cfg.run.name, manifest)
    wall = time.perf_counter() - start
    return {
        "steps": steps,
        "wall_seconds": wall,
        "train_seconds": result["train_seconds"],
        "overhead_seconds": wall - result["train_seconds"],
    }
