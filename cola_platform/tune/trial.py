"""One sweep trial: resolve its config, train it (its own Ray Train run), evaluate, report to Tune.

Trials are idempotent: a trial's directory is named from the hash of its resolved config, and a
finished trial (its `trial.json` exists) reports its stored metrics instead of training again, so
re-running a study never recomputes finished trials. Cola Stage-2 trials share Stage-1 VAEs: one
per distinct VAE config, trained once under a file lock and reused by every trial that needs it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock

from cola_core.config import Config, apply_overrides
from cola_core.config_checks import validate
from cola_core.registry import get_family
from cola_core.utils.io import atomic_write_json
from cola_platform.training.dispatch import train_config
from sweeps.study import SweepStudy

log = logging.getLogger(__name__)


@dataclass
class TrialContext:
    """Everything a trial needs, shipped to the trial actor (plain data only)."""

    study: SweepStudy
    base: dict[str, Any]
    """The study's base config (preset + data + fixed overrides) as a nested dict."""
    out: str
    parent_run_id: str = ""


def trial_config(ctx: TrialContext, point: dict[str, Any]) -> Config:
    """Base config + the point's searched and derived keys, validated and named by its hash."""
    base = Config.from_dict(ctx.base)
    cfg = validate(apply_overrides(base, ctx.study.space.resolve_trial(point, base)))
    cfg.run.name = f"{ctx.study.name}-{cfg.hash()}"
    return cfg


def stage1_config(ctx: TrialContext, cfg: Config) -> Config:
    """The Stage-1 config a Stage-2 trial starts from: only the family's `stage1_keys` come from the trial."""
    s1 = Config.from_dict(ctx.base)
    flat = cfg.flat()
    apply_overrides(s1, {k: flat[k] for k in get_family(cfg.run.family).stage1_keys})
    apply_overrides(s1, {"train.stage": 1, "train.steps": ctx.study.stage1_steps, "run.init_from": ""})
    s1.run.name = f"{ctx.study.name}-stage1-{s1.hash()}"
    return validate(s1)


def train_run(
    cfg: Config, out: Path, workers: int, tags: dict[str, str], on_eval: Callable[[dict], None] | None
) -> dict:
    """Train one config of the study with its workers per trial (resuming if `out` exists)."""
    cfg.train.workers = workers
    return train_config(cfg, out, tags=tags, on_record=on_eval, report_to_tune=on_eval is not None)


def needs_stage1(cfg: Config, study: SweepStudy) -> bool:
    """A trial starts from a shared Stage-1 run when the study trains one and its family's `needs_stage1` says so."""
    hook = get_family(cfg.run.family).needs_stage1
    return study.stage1_steps > 0 and hook is not None and hook(cfg)


def ensure_stage1(ctx: TrialContext, cfg: Config, tags: dict[str, str]) -> str:
    """Train (once) or reuse the Stage-1 VAE this trial needs; returns its run directory."""
    s1 = stage1_config(ctx, cfg)
    out = Path(ctx.out) / "stage1" / s1.run.name
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out.with_suffix(".lock"))):  # concurrent trials needing the same Stage-1 VAE wait for one another
        train_run(s1, out, ctx.study.workers_per_trial, {**tags, "stage1": "true"}, None)
    return str(out.absolute())


def evaluate_checkpoint(ctx: TrialContext, cfg: Config, out: Path) -> dict[str, float]:
    """Evaluation-only trial: the study's checkpoint under this trial's sampler settings."""
    from cola_platform.training.export import load_run

    loaded = load_run(ctx.study.checkpoint)
    loaded.cfg = validate(
        apply_overrides(loaded.cfg, {k: v for k, v in cfg.flat().items() if k.startswith("sampler.")})
    )
    # the sampler settings move the family's held-out diagnostics too (Cola's prior probe samples with them)
    return run_eval(ctx, loaded, out, heldout_batches=loaded.cfg.train.eval_batches)


def run_eval(ctx: TrialContext, loaded: Any, out: Path, heldout_batches: int = 0) -> dict[str, float]:
    """The study's generative tasks on a loaded run (plus the held-out likelihood and diagnostics over
    `heldout_batches` validation batches; a training trial already has them from its loop); flat metric names."""
    from cola_platform.evaluation import EvalRequest, evaluate_run, flat_metrics

    tasks = ctx.study.eval_tasks
    if not tasks and not heldout_batches:
        return {}
    record = evaluate_run(
        loaded,
        EvalRequest(tasks=tasks, items=ctx.study.eval_items, seed=ctx.study.seed, likelihood_batches=heldout_batches),
    )
    atomic_write_json(out / "eval.json", record)
    return flat_metrics(record)


def result_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Numeric training results (final losses, eval metrics, tokens and FLOPs) for Tune."""
    metrics = {k: v for k, v in result.get("eval", {}).items() if isinstance(v, (int, float))}
    for key in ("final_loss", "eval_loss", "tokens_per_second", "train_seconds"):
        if isinstance(result.get(key), (int, float)):
            metrics[key] = result[key]
    metrics["tokens"] = result.get("tokens_seen", 0)
    metrics["flops"] = result.get("train_flops", 0.0)
    return metrics


def run_trial(config: dict[str, Any], ctx: TrialContext) -> None:
    """The Tune trainable: one point of the space, end to end."""
    from ray import tune

    point = dict(config)
    cfg = trial_config(ctx, point)
    out = Path(ctx.out) / "trials" / cfg.run.name
    done = out / "trial.json"
    if done.exists():
        log.info("trial %s already finished; reporting its stored metrics", cfg.run.name)
        tune.report(json.loads(done.read_text())["metrics"])
        return
    tags = {"study": ctx.study.name, "trial": tune.get_context().get_trial_id() or ""}
    if ctx.parent_run_id:
        tags["mlflow.parentRunId"] = ctx.parent_run_id
    if ctx.study.checkpoint:
        metrics = evaluate_checkpoint(ctx, cfg, out)
        metrics.update(tokens=1, flops=0.0)
    else:
        if needs_stage1(cfg, ctx.study):
            cfg.run.init_from = ensure_stage1(ctx, cfg, tags)
        latest: dict[str, float] = {}

        def report_eval(record: dict[str, Any]) -> None:
            latest.update({k: v for k, v in record.items() if isinstance(v, (int, float))})
            if "eval_loss" in record and record["step"] < cfg.train.steps:
                tune.report(dict(latest))

        result = train_run(cfg, out / "run", ctx.study.workers_per_trial, tags, report_eval)
        metrics = result_metrics(result)
        if ctx.study.eval_tasks:
            from cola_platform.training.export import load_run

            metrics.update(run_eval(ctx, load_run(out / "run"), out))
    atomic_write_json(done, {"point": point, "config_hash": cfg.hash(), "run": cfg.run.name, "metrics": metrics})
    tune.report(metrics)
