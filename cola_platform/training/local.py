"""In-process training (`jobs.train --workers 0`): the debugging path and the single-process reference."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from cola_core.config import Config
from cola_core.registry import get_family
from cola_core.train.checkpoints import LocalCheckpoints
from cola_core.train.engine import LocalEngine
from cola_core.train.loop import LoopHooks, run_loop
from cola_core.utils.seeding import seed_everything
from cola_platform.data.array_stream import ArrayBatchStream, fixed_batches
from cola_platform.data.manifest import Manifest, read_tokenizer_text
from cola_platform.data.shards import read_split
from cola_platform.training.export import export_model
from cola_platform.training.result import build_result
from cola_platform.training.run_dir import MetricsLog, RunDir
from cola_platform.training.run_lock import RunLock
from cola_platform.training.setup import build_trainable, check_tokenizer
from cola_platform.progress import training_progress
from cola_platform.tracking import open_tracker
from cola_platform.tracking.redact import redact_nested

log = logging.getLogger(__name__)


def prepare_run_dir(cfg: Config, run: RunDir, manifest: Manifest, check: bool = True) -> None:
    """First start: check the config can train, write it and copy the data's tokenizer; later starts:
    check they agree. Nothing is written for a config that cannot start. `check=False` skips the
    family's start check (a later stage of a multi-stage run: its `run.init_from` is written by then)."""
    if run.config.is_file():
        saved = Config.load(run.config)
        check_tokenizer(cfg, saved.data.tokenizer_hash, f"run {run.root}")
        return
    spec = get_family(cfg.run.family)
    if check and spec.check_train_config is not None:
        spec.check_train_config(cfg)
    tokenizer = read_tokenizer_text(cfg.data.path, manifest)
    run.root.mkdir(parents=True, exist_ok=True)
    Config.from_dict(redact_nested(cfg.to_dict())).save(run.config)  # no credentials inside URIs on disk
    run.tokenizer.write_text(tokenizer)


def train_in_process(
    cfg: Config,
    out: Path,
    manifest: Manifest,
    extra_hooks: LoopHooks | None = None,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train `cfg` in this process into run directory `out`; resumes from its latest checkpoint.

    With `run.tracking_uri` (or MLFLOW_TRACKING_URI) set, logs to one MLflow run kept across
    resumes (`extra_tags`, e.g. `mlflow.parentRunId`, go on it)."""
    run = RunDir(Path(out))
    with RunLock(run.root):
        return _train_locked(cfg, run, manifest, extra_hooks, extra_tags)


def _train_locked(
    cfg: Config, run: RunDir, manifest: Manifest, extra_hooks: LoopHooks | None, extra_tags: dict[str, str] | None
) -> dict[str, Any]:
    # the data first: a missing or corrupt shard is refused before anything is written to the run dir
    train, val = read_split(cfg.data.path, manifest, "train"), read_split(cfg.data.path, manifest, "validation")
    prepare_run_dir(cfg, run, manifest)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    trainable = build_trainable(cfg)
    engine = LocalEngine(trainable.module, trainable.groups, cfg)
    stream = ArrayBatchStream(train, cfg.train.micro_batch_size, cfg.train.seed, cfg.data.shuffle)
    ckpts = LocalCheckpoints(run.checkpoints, cfg.train.keep_checkpoints)
    latest, skipped = ckpts.latest_valid()
    if skipped:
        log.warning(
            "skipped damaged checkpoint(s) %s; resuming from %s",
            "; ".join(f"{s.path.name}: {s.reason}" for s in skipped),
            latest.name if latest else "the start",
        )
    resume_state = engine.load(latest) if latest else None
    if resume_state is None and trainable.spec.prepare is not None:
        stats_stream = ArrayBatchStream(train, cfg.train.micro_batch_size, cfg.train.seed + 1)
        trainable.spec.prepare(trainable.model, cfg, stats_stream.next_batch)
    start_step = resume_state["loop"]["step"] if resume_state else 0

    def save_checkpoint(step: int, state: dict[str, Any]) -> None:
        ckpts.save(step, lambda d: engine.save(d, state))

    hooks = LoopHooks(
        on_record=[MetricsLog(run.metrics, start_step), training_progress(cfg.train.steps, log)],
        save_checkpoint=save_checkpoint,
    )
    if extra_hooks is not None:
        hooks.on_record += extra_hooks.on_record
    tracker = open_tracker(cfg, run.root, extra_tags=extra_tags)  # no-op (after one warning) when MLflow is down
    hooks.on_record.append(tracker.log_record)
    loop = run_loop(
        cfg,
        trainable.spec,
        engine,
        stream,
        lambda: fixed_batches(val, cfg.train.micro_batch_size, cfg.train.eval_batches),
        hooks,
        resume_state,
    )
    export_model(trainable.model, run)
    result = build_result(
        cfg, loop, world_size=1, extra={"resumed_from_step": start_step, "restarts": 0, "run_dir": str(run.root)}
    )
    run.write_result(result)
    tracker.finish(result, run.root)
    return result
