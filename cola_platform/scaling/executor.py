"""Executing a scaling study on the Ray cluster: one Ray task per point, idempotent, tracked in MLflow.

    <out>/points/<family>-<preset>-<budget>-<hash>/   one point: its stage runs, eval.json, point.json
    <out>/result.json, <out>/report.md, <out>/plots/   the analysis

A point's directory is named from the hash of its resolved stage configs, so re-submitting a study
skips finished points (point.json exists), resumes interrupted ones (their runs resume from their
checkpoints), and a study extended with new budgets only trains the new points.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cola_core.config import Config
from cola_core.utils.io import atomic_write_json
from cola_platform.scaling.budget_gate import BudgetGate
from sweeps.scaling_plan import PlannedRun, ScalingStudy, run_config

log = logging.getLogger(__name__)
POINT_FILE = "point.json"
POINT_TAG = "cola.point"


@dataclass
class PointJob:
    """Everything a point's Ray task needs (plain data)."""

    study: ScalingStudy
    run: PlannedRun
    data_overrides: dict[str, Any]
    directory: str
    parent_run_id: str = ""


def stage_configs(study: ScalingStudy, run: PlannedRun, data_overrides: dict[str, Any]) -> list[Config]:
    """The resolved config of every stage of a point."""
    return [run_config(study, run.family, run.preset, data_overrides, stage.overrides) for stage in run.stages]


def point_directory(out: Path, study: ScalingStudy, run: PlannedRun, data_overrides: dict[str, Any]) -> Path:
    """`<out>/points/<key>-<hash of the stage configs>`."""
    digest = hashlib.sha256("".join(c.hash() for c in stage_configs(study, run, data_overrides)).encode()).hexdigest()[:8]
    return out / "points" / f"{run.key}-{digest}"


def point_record(job: PointJob, results: list[dict], metrics: dict[str, float]) -> dict[str, Any]:
    """The flat record of a finished point (what the analysis and MLflow hold)."""
    final = results[-1]
    record = {"family": job.run.family, "preset": job.run.preset, "budget": job.run.budget,
              "flops": sum(r["train_flops"] for r in results), "tokens": sum(r["tokens_seen"] for r in results),
              "params_backbone": job.run.params_backbone, "params_total": job.run.params_total,
              "steps": [r["steps"] for r in results], "eval_loss": final["eval_loss"],
              "tokens_per_second": sum(r["tokens_seen"] for r in results) / max(sum(r["train_seconds"] for r in results), 1e-9),
              "directory": job.directory, "run_dir": results[-1].get("run_dir", "")}
    record.update(metrics)
    return record


def execute_point(job: PointJob) -> dict[str, Any]:
    """Train every stage of one point, evaluate the final model, write and return its record."""
    from cola_platform.evaluation import EvalRequest, evaluate_run, flat_metrics, unified_likelihood
    from cola_platform.tracking.eval_logging import log_point_to_mlflow
    from cola_platform.allocator import keep_freed_memory
    from cola_platform.training.dispatch import train_stage_configs
    from cola_platform.training.export import load_run

    directory = Path(job.directory)
    done = directory / POINT_FILE
    if done.exists():
        return json.loads(done.read_text())
    cfgs = stage_configs(job.study, job.run, job.data_overrides)
    keep_freed_memory()  # evaluation samples in this task
    if cfgs[0].train.threads:  # evaluation runs in this task, on the cores the point's workers used
        torch.set_num_threads(cfgs[0].train.threads * max(1, cfgs[0].train.workers))
    start, started_at = time.perf_counter(), time.time()  # the point's wall time feeds the budget gate
    tags = {"study": job.study.name, "budget_flops": f"{job.run.budget:.6g}"}
    if job.parent_run_id:
        tags["mlflow.parentRunId"] = job.parent_run_id
    stage_dirs = [directory / (f"stage{cfg.train.stage}" if len(cfgs) > 1 else "run") for cfg in cfgs]
    for cfg, stage_dir in zip(cfgs, stage_dirs):
        cfg.run.name = f"{job.study.name}-{directory.name}-{stage_dir.name}"
    results = train_stage_configs(cfgs, stage_dirs, [{**tags, POINT_TAG: str(i == len(cfgs) - 1).lower()}
                                                     for i in range(len(cfgs))])
    eval_start = time.perf_counter()
    loaded = load_run(stage_dirs[-1])
    record = evaluate_run(loaded, EvalRequest(tasks=job.study.eval_tasks, items=job.study.eval_items))
    atomic_write_json(directory / "eval.json", record)
    metrics = {**flat_metrics(record), "nll_nats_per_token": unified_likelihood(record.get("likelihood", {})),
               "readable_name": record.get("readable_metric", ""), "wall_seconds": time.perf_counter() - start}
    point = point_record(job, results, metrics)
    point["timing"] = {"started_at": started_at, "finished_at": time.time(),
                       "eval_seconds": time.perf_counter() - eval_start,
                       "runs": [{k: r[k] for k in ("train_seconds", "wall_seconds", "run_phases", "phases") if k in r}
                                for r in results]}
    log_point_to_mlflow(loaded, point)
    atomic_write_json(done, point)
    return point


def run_points(jobs: list[PointJob], max_concurrent: int, cpus_per_point: float,
               gate: BudgetGate | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Execute points as Ray tasks, at most `max_concurrent` at a time; finished points return at once.

    With an active `gate`, points run in ascending budget order and each is first checked against
    its family's finished points. Returns (point records, skipped points with their reasons).
    """
    import ray

    remote = ray.remote(num_cpus=cpus_per_point, max_retries=0)(execute_point)
    pending = [j for j in jobs if not (Path(j.directory) / POINT_FILE).exists()]
    records = [json.loads((Path(j.directory) / POINT_FILE).read_text()) for j in jobs if j not in pending]
    if gate is not None and gate.active:
        pending.sort(key=lambda j: (j.run.budget, j.run.family))
    log.info("%d points finished earlier, %d to run (%d at a time)", len(records), len(pending), max_concurrent)
    running: dict[Any, PointJob] = {}
    failures: list[str] = []
    skipped: list[dict[str, Any]] = []
    while pending or running:
        while pending and len(running) < max_concurrent:
            job = pending.pop(0)
            reason = gate.skip_reason(job.run.family, job.run.budget, records) if gate is not None else ""
            if reason:
                log.info("point %s not run: %s", job.run.key, reason)
                skipped.append({"family": job.run.family, "preset": job.run.preset, "budget": job.run.budget, "reason": reason})
                continue
            running[remote.remote(job)] = job
        if not running:
            break
        ready, _ = ray.wait(list(running), num_returns=1)
        job = running.pop(ready[0])
        try:
            records.append(ray.get(ready[0]))
            log.info("point %s done", job.run.key)
        except Exception as err:  # one failed point must not lose the others; the study reports it
            failures.append(f"{job.run.key}: {str(err).strip().splitlines()[-1][:300]}")
            log.error("point %s failed: %s", job.run.key, failures[-1])
    if failures:
        log.warning("%d point(s) failed; re-submit the study to retry them: %s", len(failures), "; ".join(failures))
    return records, skipped
