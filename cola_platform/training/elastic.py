"""Elastic resume: a distributed run continues at another worker count (and ZeRO stage).

ZeRO-1/2/3 shard the optimizer state (stage 3 the weights too) by rank, so a checkpoint written by W
ranks cannot be loaded by W' ranks as it is. When the checkpoint a run resumes from was written at
another world size or ZeRO stage, every rank converts it with DeepSpeed's universal-checkpoint
converter into a local temp directory and loads that (`DeepSpeedEngine.load(..., universal=True)`).
A ZeRO-0 checkpoint keeps the whole optimizer state in one file and loads at any world size as it is.
ZeRO stages 1 and 2 are interchangeable; a ZeRO-3 checkpoint resumes only as it was written
(`check_zero_change`).

What is trained stays the same:
- the run keeps the name in its run directory's config.json (a name derived from the config hash
  changes with `train.workers`, and the checkpoints are stored under the name),
- the global batch (micro-batch x accumulation x workers sequences of the run's first start) is kept
  by changing `train.grad_accum`; a worker count that cannot divide it is refused with one line,
- the data position is kept in sequences (`RayBatchStream.load_state`): with `strided` ingest the
  global order is the manifest order at every world size, so no sequence is seen twice or skipped;
  with `split` ingest Ray Data decides which rows each worker reads, so the number of sequences
  consumed in the epoch is kept, not their identity,
- every rank re-seeds its RNG from (seed, step, rank): the rank streams of another world size have no
  counterpart (an objective without randomness, e.g. AR, continues exactly).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from cola_core.config import Config
from cola_core.utils.seeding import rng_state, seed_everything
from cola_platform.errors import UserError

log = logging.getLogger(__name__)

UNIVERSAL_LOAD = {"checkpoint": {"load_universal": True}}
"""DeepSpeed config overrides of an engine that loads a universal checkpoint."""


@dataclass(frozen=True)
class Layout:
    """How a checkpoint's ranks were laid out (from its cola_meta.json)."""

    workers: int
    zero_stage: int

    @classmethod
    def of_checkpoint(cls, meta: dict[str, Any]) -> "Layout | None":
        """The layout a checkpoint was written with; None for a checkpoint that does not record it."""
        if "world_size" not in meta or "zero_stage" not in meta:
            return None
        return cls(int(meta["world_size"]), int(meta["zero_stage"]))

    @classmethod
    def of_config(cls, cfg: Config) -> "Layout":
        return cls(cfg.train.workers, cfg.train.zero_stage)


def needs_universal(saved: Layout | None, now: Layout) -> bool:
    """Whether a checkpoint written at `saved` must go through the universal format to load at `now`."""
    return saved is not None and saved != now and saved.zero_stage > 0


def check_zero_change(saved: Layout | None, now: Layout) -> None:
    """Refuse layout changes the universal conversion cannot make exactly, with one line: ZeRO-1 and -2
    checkpoints move between those stages at any worker count; a ZeRO-0 checkpoint resumes at ZeRO-0
    with any worker count; a ZeRO-3 checkpoint only as it was written (converted 2 -> 1 workers, its
    losses drifted from an uninterrupted run's by 5e-4 within three steps, so its optimizer state does
    not cross intact)."""
    if saved is None or saved == now:
        return
    if {saved.zero_stage, now.zero_stage} <= {1, 2} or saved.zero_stage == now.zero_stage == 0:
        return
    if saved.zero_stage == 3:
        allowed = f"at {saved.workers} workers and ZeRO-3 only: re-run with --workers {saved.workers} --zero 3"
    elif saved.zero_stage == 0:
        allowed = "at ZeRO-0 (any worker count): re-run with --zero 0"
    else:
        allowed = f"at ZeRO 1 or 2 (any worker count): re-run with --zero {saved.zero_stage}"
    raise UserError(
        f"the latest checkpoint was written by {saved.workers} workers at ZeRO-{saved.zero_stage}, this run asks "
        f"for {now.workers} at ZeRO-{now.zero_stage}; it can resume {allowed}"
    )


def global_batch(cfg: Config) -> int:
    """Sequences per optimizer step."""
    t = cfg.train
    return t.micro_batch_size * t.grad_accum * max(1, t.workers)


def keep_run_identity(cfg: Config, saved: Config) -> None:
    """Make `cfg` continue the run its directory holds: same name, same global batch.

    `saved` is the run directory's config.json (the run's first start). A changed worker count keeps
    the global batch by changing `train.grad_accum` (one log line); raises UserError when the new
    worker count times the micro-batch cannot divide it.
    """
    if saved.run.name and cfg.run.name != saved.run.name:
        log.warning(
            "the run directory belongs to run %r (its config.json); continuing it under that name", saved.run.name
        )
        cfg.run.name = saved.run.name
    if cfg.train.workers == saved.train.workers:
        return
    target, t = global_batch(saved), cfg.train
    if global_batch(cfg) == target:
        return
    per_step = t.micro_batch_size * t.workers
    if target % per_step:
        valid = [w for w in range(1, target // t.micro_batch_size + 1) if target % (t.micro_batch_size * w) == 0]
        raise UserError(
            f"run {saved.run.name} trains on {target} sequences per step; {t.workers} workers x micro-batch "
            f"{t.micro_batch_size} cannot divide it: use --workers in {valid} or another train.micro_batch_size"
        )
    log.info(
        "run %s continues at %d workers (was %d): train.grad_accum %d -> %d keeps %d sequences per step",
        saved.run.name,
        t.workers,
        saved.train.workers,
        t.grad_accum,
        target // per_step,
        target,
    )
    t.grad_accum = target // per_step


def reseed_resume_state(resume_state: dict[str, Any], seed: int, rank: int, stride: int) -> None:
    """Replace the loop state's RNG with a fresh stream for (seed, step, rank) after a layout change."""
    seed_everything(seed + stride * rank + 7_919 * int(resume_state["loop"]["step"]))
    resume_state["rng"] = rng_state()
