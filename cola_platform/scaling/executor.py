"""Executing a scaling study on the Ray cluster: Ray tasks over groups of points, idempotent, tracked in MLflow.

    <out>/points/<family>-<preset>-<budget>-<hash>/   one point: its stage runs, eval.json, point.json
    <out>/result.json, <out>/report.md, <out>/plots/   the analysis

A point's directory is named from the hash of its resolved stage configs, so re-submitting a study
skips finished points (point.json exists), resumes interrupted ones (their runs resume from their
checkpoints), and a study extended with new budgets only trains the new points.

Distributed points that can share a worker group (same data, workers, device, seed, threads) are
trained in one Ray Train run per group (`group_points`): one group per concurrent slot, so a
one-at-a-time study such as the demo starts one worker group instead of one per point and stage,
and then evaluates its points one by one in the same task. A study with a budget gate (its points
decided one by one from the finished ones) and in-process points run one point per task.
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
from cola_platform.progress import eta_seconds, format_duration
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
    digest = hashlib.sha256("".join(c.hash() for c in stage_configs(study, run, data_overrides)).encode()).hexdigest()[
        :8
    ]
    return out / "points" / f"{run.key}-{digest}"


def point_record(job: PointJob, results: list[dict], metrics: dict[str, float]) -> dict[str, Any]:
    """The flat record of a finished point (what the analysis and MLflow hold)."""
    final = results[-1]
    record = {
        "family": job.run.family,
        "preset": job.run.preset,
        "budget": job.run.budget,
        "flops": sum(r["train_flops"] for r in results),
        "tokens": sum(r["tokens_seen"] for r in results),
        "params_backbone": job.run.params_backbone,
        "params_total": job.run.params_total,
        "steps": [r["steps"] for r in results],
        "eval_loss": final["eval_loss"],
        "tokens_per_second": sum(r["tokens_seen"] for r in results)
        / max(sum(r["train_seconds"] for r in results), 1e-9),
        "directory": job.directory,
        "run_dir": results[-1].get("run_dir", ""),
    }
    record.update(metrics)
    return record


def _point_configs(job: PointJob) -> tuple[list[Config], list[Path]]:
    """A point's stage configs, named for its study, and their run directories."""
    directory = Path(job.directory)
    cfgs = stage_configs(job.study, job.run, job.data_overrides)
    stage_dirs = [directory / (f"stage{cfg.train.stage}" if len(cfgs) > 1 else "run") for cfg in cfgs]
    for cfg, stage_dir in zip(cfgs, stage_dirs):
        cfg.run.name = f"{job.study.name}-{directory.name}-{stage_dir.name}"
    return cfgs, stage_dirs


def _attributed_walls(train_wall: float, results: list[list[dict[str, Any]]]) -> list[float]:
    """Each point's share of its group's training wall time: the first point carries the run-level
    phases (driver set-up, worker group, process group, teardown), the rest is split in proportion
    to the points' own stage phases (set-up, first step, loop, hand-over)."""
    run_level = sum(results[0][-1].get("run_phases", {}).values()) if results and results[0] else 0.0
    own = [
        sum(sum(v for k, v in r.get("phases", {}).items() if k != "steps") or r.get("train_seconds", 0.0) for r in rs)
        for rs in results
    ]
    rest = max(0.0, train_wall - run_level)
    shares = [rest * o / sum(own) if sum(own) > 0 else rest / len(own) for o in own]
    shares[0] += min(run_level, train_wall)
    return shares


def execute_group(jobs: list[PointJob]) -> list[dict[str, Any]]:
    """Train every stage of the group's unfinished points in one Ray Train run (one per point
    in-process), then evaluate each point's final model; write and return the points' records."""
    from cola_platform.allocator import keep_freed_memory
    from cola_platform.training.dispatch import train_stage_configs

    done = {
        j.directory: json.loads((Path(j.directory) / POINT_FILE).read_text())
        for j in jobs
        if (Path(j.directory) / POINT_FILE).exists()
    }
    todo = [j for j in jobs if j.directory not in done]
    if not todo:
        return [done[j.directory] for j in jobs]
    configs = [_point_configs(j) for j in todo]
    first = configs[0][0][0]
    keep_freed_memory()  # evaluation samples in this task
    if first.train.threads:  # evaluation runs in this task, on the cores the points' workers used
        torch.set_num_threads(first.train.threads * max(1, first.train.workers))
    start, started_at = time.perf_counter(), time.time()  # a point's wall time feeds the budget gate
    cfgs: list[Config] = []
    outs: list[Path] = []
    tags: list[dict[str, str]] = []
    continues: list[bool] = []
    spans: list[range] = []
    for job, (point_cfgs, stage_dirs) in zip(todo, configs):
        point_tags = {"study": job.study.name, "budget_flops": f"{job.run.budget:.6g}"}
        if job.parent_run_id:
            point_tags["mlflow.parentRunId"] = job.parent_run_id
        spans.append(range(len(cfgs), len(cfgs) + len(point_cfgs)))
        cfgs += point_cfgs
        outs += stage_dirs
        tags += [{**point_tags, POINT_TAG: str(i == len(point_cfgs) - 1).lower()} for i in range(len(point_cfgs))]
        continues += [i > 0 for i in range(len(point_cfgs))]
    group = hashlib.sha256(",".join(Path(j.directory).name for j in todo).encode()).hexdigest()[:8]
    name = cfgs[-1].run.name if len(todo) == 1 else f"{todo[0].study.name}-group-{group}"
    trained = train_stage_configs(cfgs, outs, tags, continues=continues, name=name)
    results = [[trained[k] for k in span] for span in spans]
    walls = _attributed_walls(time.perf_counter() - start, results)
    for job, (_, stage_dirs), point_results, wall in zip(todo, configs, results, walls):
        done[job.directory] = _evaluate_point(
            job, stage_dirs[-1], point_results, wall, started_at, first_in_group=job is todo[0]
        )
    return [done[j.directory] for j in jobs]


def _evaluate_point(
    job: PointJob,
    final_run: Path,
    results: list[dict[str, Any]],
    train_wall: float,
    started_at: float,
    first_in_group: bool,
) -> dict[str, Any]:
    """Evaluate a trained point's final model; write eval.json, point.json and the MLflow point."""
    from cola_platform.evaluation import EvalRequest, evaluate_run, flat_metrics, unified_likelihood
    from cola_platform.tracking.eval_logging import log_point_to_mlflow
    from cola_platform.training.export import load_run

    directory = Path(job.directory)
    eval_start = time.perf_counter()
    loaded = load_run(final_run)
    record = evaluate_run(loaded, EvalRequest(tasks=job.study.eval_tasks, items=job.study.eval_items))
    atomic_write_json(directory / "eval.json", record)
    eval_seconds = time.perf_counter() - eval_start
    metrics = {
        **flat_metrics(record),
        "nll_nats_per_token": unified_likelihood(record.get("likelihood", {})),
        "readable_name": record.get("readable_metric", ""),
        "wall_seconds": train_wall + eval_seconds,
    }
    point = point_record(job, results, metrics)
    keys = ("train_seconds", "wall_seconds", "phases", *(("run_phases",) if first_in_group else ()))
    point["timing"] = {
        "started_at": started_at,
        "finished_at": time.time(),
        "eval_seconds": eval_seconds,
        "ray_train_run": results[-1].get("ray_train_run", ""),
        "runs": [{k: r[k] for k in keys if k in r} for r in results],
    }
    log_point_to_mlflow(loaded, point)
    atomic_write_json(directory / POINT_FILE, point)
    return point


def _shared_group_key(job: PointJob) -> tuple[str, ...]:
    """What points sharing one Ray Train run must agree on (`distributed.SHARED_GROUP_FIELDS`)."""
    from cola_platform.training.distributed import shared_group_key

    return shared_group_key(stage_configs(job.study, job.run, job.data_overrides)[0])


def group_points(jobs: list[PointJob], max_concurrent: int, gate: BudgetGate | None = None) -> list[list[PointJob]]:
    """Points trained together in one Ray Train run: with `max_concurrent == 1` every compatible
    point of the study, else one group per family (and compatibility); single points when the
    study has an active budget gate or trains in-process. Families keep the study's order, budgets
    ascend within a family."""
    if (gate is not None and gate.active) or any(j.study.workers == 0 for j in jobs):
        return [[j] for j in jobs]
    order = {fam: i for i, fam in enumerate(jobs[0].study.families)} if jobs else {}
    groups: dict[tuple[str, ...], list[PointJob]] = {}
    for job in sorted(jobs, key=lambda j: (order.get(j.run.family, len(order)), j.run.budget, j.run.preset)):
        key = _shared_group_key(job) + (("",) if max_concurrent == 1 else (job.run.family,))
        groups.setdefault(key, []).append(job)
    return list(groups.values())


def run_points(
    jobs: list[PointJob], max_concurrent: int, cpus_per_point: float, gate: BudgetGate | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Execute groups of points (`group_points`) as Ray tasks, at most `max_concurrent` at a time;
    finished points return at once.

    With an active `gate`, points run one per task in ascending budget order and each is first
    checked against its family's finished points. Returns (point records, skipped points with their reasons).
    """
    import ray

    remote = ray.remote(num_cpus=cpus_per_point, max_retries=0)(execute_group)
    pending = [j for j in jobs if not (Path(j.directory) / POINT_FILE).exists()]
    records = [json.loads((Path(j.directory) / POINT_FILE).read_text()) for j in jobs if j not in pending]
    if gate is not None and gate.active:
        pending.sort(key=lambda j: (j.run.budget, j.run.family))
    groups = group_points(pending, max_concurrent, gate)
    log.info(
        "%d points finished earlier, %d to run in %d Ray task(s), %d at a time",
        len(records),
        len(pending),
        len(groups),
        max_concurrent,
    )
    running: dict[Any, list[PointJob]] = {}
    started, todo_flops, done_flops = time.monotonic(), sum(j.run.flops for j in pending), 0.0
    failures: list[str] = []
    skipped: list[dict[str, Any]] = []
    while groups or running:
        while groups and len(running) < max_concurrent:
            group = groups.pop(0)
            job = group[0]
            gated = gate is not None and len(group) == 1
            reason = gate.skip_reason(job.run.family, job.run.budget, records) if gate is not None and gated else ""
            if reason:
                log.info("point %s not run: %s", job.run.key, reason)
                skipped.append(
                    {"family": job.run.family, "preset": job.run.preset, "budget": job.run.budget, "reason": reason}
                )
                continue
            if len(group) > 1:
                log.info("training %d points in one Ray Train run: %s", len(group), ", ".join(j.run.key for j in group))
            running[remote.remote(group)] = group
        if not running:
            break
        ready, _ = ray.wait(list(running), num_returns=1)
        group = running.pop(ready[0])
        keys = ", ".join(j.run.key for j in group)
        try:
            records += ray.get(ready[0])
            done_flops += sum(j.run.flops for j in group)
            eta = eta_seconds(done_flops, todo_flops, time.monotonic() - started)
            log.info("point(s) %s done (%d of %d), ETA %s", keys, len(records), len(jobs), format_duration(eta))
        except Exception as err:  # one failed group must not lose the others; the study reports it
            failures.append(f"{keys}: {str(err).strip().splitlines()[-1][:300]}")
            log.error("point(s) %s failed: %s", keys, failures[-1])
    if failures:
        log.warning(
            "%d group(s) of points failed; re-submit the study to retry them: %s", len(failures), "; ".join(failures)
        )
    return records, skipped
