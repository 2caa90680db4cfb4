"""Training throughput: one in-process worker vs W Ray Train workers under DeepSpeed on the same global batch.

`python -m jobs.bench train --json F` calls `bench_train`. All runs train the same AR preset on the
same prepared storyworld data for the same steps and global batch G: in-process with all cores
(micro = G), in-process with one thread, and W Ray Train workers (micro = G / W, one thread each).
Overhead is relative to the all-cores in-process run; parallel efficiency is the distributed rate
over W x the one-thread in-process rate (what W perfectly parallel workers would reach). Tokens/s
come from the loop's own timer (optimizer steps including data waits, excluding eval and
checkpoints), overall and "steady" (after step 10, leaving one-off warm-up out).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from cola_platform.training.run_dir import read_metrics

log = logging.getLogger(__name__)


def steady_tokens_per_second(metrics_path: Path, skip_steps: int) -> float:
    """Tokens/s between the first train record past `skip_steps` and the last one."""
    records = [r for r in read_metrics(metrics_path) if "tokens_per_second" in r]
    later = [r for r in records if r["step"] > skip_steps] or records
    first, last = later[0], records[-1]
    seconds = last["tokens"] / last["tokens_per_second"] - first["tokens"] / first["tokens_per_second"]
    return (last["tokens"] - first["tokens"]) / seconds if seconds > 0 else float("nan")


def _prepare(workdir: Path, docs: int, seq_len: int, vocab_size: int) -> str:
    from cola_platform.data.manifest import MANIFEST
    from cola_platform.data.prepare_local import PrepareSpec, prepare_texts
    from cola_platform.data.sources import Source

    out = workdir / f"sw-{docs}-{seq_len}-{vocab_size}"
    if not (out / MANIFEST).is_file():
        source = Source("storyworld", num_docs=docs)
        prepare_texts(PrepareSpec(out=str(out), seq_len=seq_len, vocab_size=vocab_size, source=source.describe(),
                                  val_fraction=0.02, shard_rows=1024), source.texts())
    return str(out)


def _summary(result: dict[str, Any], out: Path, skip: int, wall: float) -> dict[str, Any]:
    return {"tokens_per_second": round(result["tokens_per_second"], 1),
            "steady_tokens_per_second": round(steady_tokens_per_second(out / "metrics.jsonl", skip), 1),
            "train_seconds": round(result["train_seconds"], 2), "wall_seconds": round(wall, 1),
            "final_loss": round(result["final_loss"], 4), "world_size": result["world_size"],
            "zero_stage": result["zero_stage"], "micro_batch_size": result["micro_batch_size"]}


def bench_train(preset: str = "xs", steps: int = 50, global_batch: int = 16, workers: int = 2, zero: int = 2,
                docs: int = 3000, seq_len: int = 128, vocab_size: int = 4096, workdir: str | None = None) -> dict[str, Any]:
    """Run both trainings and report tokens/s and the distributed platform's overhead."""
    from cola_platform.training.distributed import train_distributed
    from cola_platform.training.local import train_in_process
    from cola_platform.training.setup import config_for_data

    if global_batch % workers:
        raise ValueError(f"global batch {global_batch} must be divisible by {workers} workers")
    root = Path(workdir or tempfile.mkdtemp(prefix="bench-train-"))
    data = _prepare(root, docs, seq_len, vocab_size)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    common = {"train.steps": steps, "train.log_every": 10, "train.eval_every": 0, "train.ckpt_every": 0,
              "train.eval_batches": 2}
    figures: dict[str, Any] = {"preset": preset, "steps": steps, "global_batch": global_batch, "seq_len": seq_len}
    runs = {"in_process": {**common, "train.micro_batch_size": global_batch},
            "in_process_1thread": {**common, "train.micro_batch_size": global_batch, "train.threads": 1},
            f"ray_{workers}w_zero{zero}": {**common, "train.micro_batch_size": global_batch // workers,
                                           "train.workers": workers, "train.zero_stage": zero}}
    for label, overrides in runs.items():
        cfg, manifest = config_for_data("ar", preset, data, {**overrides, "run.name": f"bench-{label}-{stamp}"})
        out = root / "runs" / cfg.run.name
        start = time.perf_counter()
        result = (train_distributed if cfg.train.workers else train_in_process)(cfg, out, manifest)
        figures[label] = _summary(result, out, 10, time.perf_counter() - start)
        log.info("%s: %.0f tokens/s (steady %.0f)", label, figures[label]["tokens_per_second"],
                 figures[label]["steady_tokens_per_second"])
    dist = figures[f"ray_{workers}w_zero{zero}"]
    for key in ("tokens_per_second", "steady_tokens_per_second"):
        figures[f"overhead_pct_{key}"] = round(100 * (1 - dist[key] / figures["in_process"][key]), 1)
        ideal = workers * figures["in_process_1thread"][key]  # W workers x one core's rate
        figures[f"parallel_efficiency_{key}"] = round(dist[key] / ideal, 3)
    return figures


def bench_platform(steps: int = 5) -> dict[str, Any]:
    """Ray Train's fixed cost: wall time of a short 1-worker tiny AR run minus its training time."""
    from cola_platform.training.distributed import ensure_ray, train_distributed
    from cola_platform.training.setup import config_for_data

    ensure_ray()
    with tempfile.TemporaryDirectory() as tmp:
        data = _prepare(Path(tmp), docs=800, seq_len=64, vocab_size=512)
        cfg, manifest = config_for_data("ar", "tiny", data, {"train.steps": steps, "train.workers": 1, "train.threads": 1,
                                                              "train.ckpt_every": 0, "train.eval_batches": 1})
        start = time.perf_counter()
        result = train_distributed(cfg, Path(tmp) / "run", manifest)
        wall = time.perf_counter() - start
    return {"steps": steps, "wall_seconds": wall, "train_seconds": result["train_seconds"],
            "overhead_seconds": wall - result["train_seconds"],
            "what": "worker-group start, DeepSpeed init, Ray Data ingest start, checkpoint + export, result collection"}
