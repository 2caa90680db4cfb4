"""`jobs.sweep`: run a sweep study on the Ray cluster and summarise it.

<out>/tune/<study>/      Ray Tune's experiment state (re-running restores it)
<out>/trials/<run>/      one directory per trial, named from the hash of its resolved config
<out>/stage1/<run>/      shared Cola Stage-1 VAEs
<out>/result.json        the summary (also logged to the study's MLflow parent run)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cola_core.config import Config
from cola_core.utils.io import atomic_write_json
from cola_platform.data.ensure import ensure_prepared
from cola_platform.data.manifest import read_manifest
from cola_platform.errors import UserError
from cola_platform.training.setup import data_overrides
from cola_platform.tune.search import num_samples, param_space, scheduler, search_algorithm
from cola_platform.tune.space_record import check_space_unchanged, record_space
from cola_platform.tune.trial import TrialContext, run_trial, trial_config
from sweeps.space import GRIDDABLE, check_corners
from sweeps.study import SweepStudy

log = logging.getLogger(__name__)


def study_base(study: SweepStudy) -> Config:
    """The study's base config against its real data (re-checking every corner of the space).

    Prepares the data from the study's [prepare] table when it is missing; an evaluation-only
    study trains its checkpoint once first when it does not exist yet.
    """
    ensure_prepared(study.data, study.prepare)
    base = study.base_config(data_overrides(study.data, read_manifest(study.data)))
    if study.checkpoint:
        from cola_platform.training.export import load_run

        ensure_checkpoint(study, base)
        base = load_run(study.checkpoint).cfg
        base.run.study = base.run.experiment = study.name
    check_corners(study.space, base)
    return base


def ensure_checkpoint(study: SweepStudy, base: Config) -> None:
    """Train the evaluation-only study's checkpoint with its base config (Stage 1 first for Cola)."""
    from cola_platform.training.run_dir import RunDir
    from cola_platform.tune.trial import ensure_stage1, needs_stage1, train_run

    out = Path(study.checkpoint)
    if RunDir(out).finished():
        return
    log.info("training the checkpoint of %s into %s", study.name, out)
    ctx = TrialContext(study=study, base=base.to_dict(), out=str(out.parent.absolute()))
    cfg = Config.from_dict(ctx.base)
    cfg.run.name = f"{study.name}-checkpoint"
    tags = {"study": study.name, "checkpoint": "true"}
    if needs_stage1(cfg, study):
        cfg.run.init_from = ensure_stage1(ctx, cfg, tags)
    train_run(cfg, out, study.workers_per_trial, tags, None)


def max_concurrent(study: SweepStudy, cluster_cpus: float) -> int:
    """Trials that fit at once: CPUs / CPUs per trial (a trial = its workers, or one CPU in-process)."""
    if study.max_concurrent:
        return study.max_concurrent
    per_trial = max(1, study.workers_per_trial)
    return max(1, int(cluster_cpus // per_trial))


def trial_threads(study: SweepStudy, cluster_cpus: float) -> int:
    """torch threads per trial worker so that concurrent trials share the cores without oversubscribing
    them (two 1-worker trials with 2 threads each on 2 cores train ~3.7x slower than with 1 each)."""
    per_trial = max(1, study.workers_per_trial)
    return max(1, int(cluster_cpus // (max_concurrent(study, cluster_cpus) * per_trial)))


def trial_tokens(study: SweepStudy, cfg: Config) -> int:
    """Tokens one full trial of config `cfg` trains on (the base config's, or one trial's own when its
    point sets the steps or the batch; 0 for evaluation-only studies, whose trials train nothing)."""
    if study.checkpoint:
        return 0
    world = max(1, study.workers_per_trial)
    return cfg.train.steps * cfg.data.seq_len * cfg.train.micro_batch_size * cfg.train.grad_accum * world


def trial_flops(study: SweepStudy, base: Config) -> float:
    """Training FLOPs of one full trial (0 for evaluation-only studies)."""
    if study.checkpoint:
        return 0.0
    from cola_core.registry import get_family

    return float(trial_tokens(study, base) * get_family(base.run.family).flops_per_token(base).train)


def grid_flops(ctx: TrialContext) -> float | None:
    """Training FLOPs of one full trial per grid point, each with its own config (None: not a grid)."""
    if not all(p.kind in GRIDDABLE for p in ctx.study.space.params.values()):
        return None
    return sum(trial_flops(ctx.study, trial_config(ctx, point)) for point in ctx.study.space.grid_points())


def trial_budget(study: SweepStudy, base: Config) -> float:
    """A full trial's `time_attr` budget (tokens or FLOPs): ASHA's max_t."""
    return float(trial_tokens(study, base)) if study.time_attr == "tokens" else trial_flops(study, base)


def build_tuner(study: SweepStudy, ctx: TrialContext, base: Config, storage: Path) -> Any:
    """A fresh Tuner, or the study's previous one restored (finished trials are not re-run)."""
    import ray
    from ray import tune

    trainable = tune.with_parameters(run_trial, ctx=ctx)
    resources: dict[str, float] = {"CPU": 0.001} if study.workers_per_trial > 0 else {"CPU": 1}
    trainable = tune.with_resources(trainable, resources)
    path = storage / study.name
    if tune.Tuner.can_restore(str(path)):
        check_space_unchanged(storage.parent, study)
        log.info("restoring study %s from %s", study.name, path)
        return tune.Tuner.restore(str(path), trainable=trainable, resume_errored=True, restart_errored=False)
    record_space(storage.parent, study)
    single = len(study.objective) == 1
    tune_config = tune.TuneConfig(
        metric=study.objective[0] if single else None,
        mode=study.mode[0] if single else None,
        search_alg=search_algorithm(study),
        scheduler=scheduler(study, trial_budget(study, base)),
        num_samples=num_samples(study),
        max_concurrent_trials=max_concurrent(study, ray.cluster_resources().get("CPU", 1)),
    )
    run_config = tune.RunConfig(
        name=study.name,
        storage_path=str(storage.absolute()),
        failure_config=tune.FailureConfig(max_failures=study.max_failures),
        verbose=1,
    )
    return tune.Tuner(
        trainable, param_space=param_space(study.space, study.search), tune_config=tune_config, run_config=run_config
    )


def collect_trials(results: Any, ctx: TrialContext) -> list[dict[str, Any]]:
    """One record per trial: its point, derived overrides, final metrics and status."""
    records = []
    for r in results:
        point = dict(r.config or {})
        row: dict[str, Any] = {
            "trial_id": (r.metrics or {}).get("trial_id", ""),
            "status": "error" if r.error else "ok",
            "error": str(r.error).splitlines()[0][:300] if r.error else "",
        }
        try:
            cfg = trial_config(ctx, point)
            row.update(ctx.study.space.resolve_trial(point, Config.from_dict(ctx.base)))
            row["run"] = cfg.run.name
            row["full_trial_tokens"] = trial_tokens(ctx.study, cfg)
        except Exception as err:  # a broken point is reported, not fatal to the summary
            row["error"] = row["error"] or str(err)
        row.update({k: v for k, v in point.items() if "." not in k})
        row.update(
            {k: v for k, v in (r.metrics or {}).items() if isinstance(v, (int, float)) and not k.startswith("config/")}
        )
        records.append(row)
    return records


def run_sweep(study: SweepStudy, out: Path) -> dict[str, Any]:
    """Run (or resume) the study; write and return its summary."""
    import ray

    from cola_platform.data.ray_env import ensure_ray
    from cola_platform.tracking.study_runs import open_study_run
    from sweeps.sweep_report import summarize

    ensure_ray()
    base = study_base(study)
    base.train.threads = base.train.threads or trial_threads(study, ray.cluster_resources().get("CPU", 1))
    out.mkdir(parents=True, exist_ok=True)
    base.run.tracking_uri = base.run.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")  # trials inherit it
    parent = open_study_run(
        study.name,
        kind="sweep",
        params={"search": study.search, "scheduler": study.scheduler, "objective": ",".join(study.objective)},
        tracking_uri=base.run.tracking_uri,
    )
    ctx = TrialContext(study=study, base=base.to_dict(), out=str(out.absolute()), parent_run_id=parent.run_id)
    tuner = build_tuner(study, ctx, base, out / "tune")
    results = tuner.fit()
    records = collect_trials(results, ctx)
    if not any(r["status"] == "ok" for r in records):
        raise UserError(
            f"every trial of study {study.name} failed; first error: {records[0]['error'] if records else 'none'}"
        )
    summary = summarize(
        study,
        records,
        out,
        full_trial_flops=trial_flops(study, base),
        full_trial_tokens=trial_tokens(study, base),
        full_grid_flops=grid_flops(ctx),
    )
    summary["study_file"] = study.path
    summary["mlflow_parent_run_id"] = parent.run_id
    atomic_write_json(out / "result.json", summary)
    parent.log_summary(summary, out)
    return summary
