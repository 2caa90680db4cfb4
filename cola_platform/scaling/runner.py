"""`jobs.scaling` and `jobs.report`: plan, run and analyse compute-matched scaling studies."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from cola_core.flops import to_eflops
from cola_core.utils.io import atomic_write_json
from cola_platform.data.ensure import ensure_prepared
from cola_platform.data.manifest import read_manifest
from cola_platform.errors import UserError
from cola_platform.scaling.budget_gate import BudgetGate
from cola_platform.scaling.executor import PointJob, point_directory, run_points
from cola_platform.tracking.study_query import retire_stale_points
from cola_platform.training.setup import data_overrides
from sweeps.scaling_plan import PlannedRun, ScalingStudy, plan_study
from sweeps.scaling_plots import curves_plot, isoflop_plot, markdown
from sweeps.scaling_report import LIKELIHOOD, READABLE, analyze, comparison_table, first_reached

log = logging.getLogger(__name__)
TABLE_METRICS = (
    "sw_quality_grammatical",
    "sw_quality_valid",
    "accuracy_mean",
    "sw_lambada_acc",
    "sw_cloze_acc",
    "sw_qa_acc",
    "sw_order_acc",
    "sw_agreement_acc",
    READABLE,
    "context_gain",
    LIKELIHOOD,
    "eval_loss",
)


def plan(study: ScalingStudy, prepare: bool = True) -> tuple[list[PlannedRun], dict[str, Any]]:
    """The study's runs against its data (prepared first when missing and `prepare`)."""
    if prepare:
        ensure_prepared(study.data, study.prepare)
        overrides = data_overrides(study.data, read_manifest(study.data))
    else:
        overrides = planning_overrides(study)
    return plan_study(study, overrides), overrides


def planning_overrides(study: ScalingStudy) -> dict[str, Any]:
    """Data-derived fields for a dry run: from the manifest if the data exists, else the [prepare] table."""
    try:
        return data_overrides(study.data, read_manifest(study.data))
    except UserError:
        if not {"seq_len", "vocab_size"} <= set(study.prepare):
            raise
        return {
            "data.path": study.data,
            "data.seq_len": int(study.prepare["seq_len"]),
            "model.vocab_size": int(study.prepare["vocab_size"]),
        }


def measured_throughput(out: Path) -> dict[str, float]:
    """Mean training tokens/s per family over the study's finished points (for wall-time estimates)."""
    seen: dict[str, list[float]] = {}
    for path in (out / "points").glob("*/point.json"):
        p = json.loads(path.read_text())
        seen.setdefault(p["family"], []).append(p["tokens_per_second"])
    return {fam: sum(v) / len(v) for fam, v in seen.items()}


def plan_table(study: ScalingStudy, runs: list[PlannedRun], out: Path) -> str:
    """The --dry-run plan: runs, steps, tokens, FLOPs (and EFLOPs), estimated wall time."""
    speed = measured_throughput(out)
    lines = [
        f"{'family':6} {'preset':6} {'budget':>10} {'EFLOPs':>9} {'steps':>14} {'tokens':>12} {'est. time':>10}  note"
    ]
    total_s = 0.0
    for r in runs:
        tps = speed.get(r.family, study.assumed_tokens_per_second)
        seconds = r.tokens / tps
        total_s += 0 if r.skipped else seconds
        steps = "+".join(str(s.steps) for s in r.stages)
        note = r.skipped or ("measured" if r.family in speed else "assumed") + f" {tps:,.0f} tok/s"
        lines.append(
            f"{r.family:6} {r.preset:6} {r.budget:>10.3g} {to_eflops(r.flops):>9.2e} {steps:>14} {r.tokens:>12,} "
            f"{seconds / 60:>8.1f} m  {note}"
        )
    ran = [r for r in runs if not r.skipped]
    lines.append(
        f"{len(ran)} runs ({len(runs) - len(ran)} skipped), {sum(r.flops for r in ran):.3g} FLOPs, "
        f"~{total_s / 60:.0f} CPU-minutes of training at the listed throughput (divide by concurrency)"
    )
    return "\n".join(lines)


def build_report(
    name: str,
    points: list[dict],
    families: list[str],
    loss_metric: str,
    quality_metric: str,
    out: Path,
    thresholds: list[float] | None = None,
    skipped: list[dict] | None = None,
) -> dict[str, Any]:
    """Analysis + comparison table + plots + report.md + result.json in `out`.

    `thresholds`: quality levels whose first budget per family the report gives; `skipped`: points
    the study's budget gate did not run (with reasons), reported as such.
    """
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyze(points, families, loss_metric, quality_metric)
    analysis["skipped"] = list(skipped or [])
    if thresholds:
        analysis["first_reached"] = first_reached(points, families, quality_metric, thresholds, analysis["skipped"])
    metrics = [m for m in TABLE_METRICS if any(m in p for p in points)]
    table = comparison_table(points, metrics, quality_metric)
    plots_dir = out / "plots"
    plots_dir.mkdir(exist_ok=True)
    plots = [
        str(curves_plot(points, analysis, plots_dir / "scaling_curves.png")),
        str(isoflop_plot(points, loss_metric, plots_dir / "isoflop.png")),
    ]
    (out / "report.md").write_text(markdown(name, table, analysis, plots, metrics))
    numeric = [
        {k: v for k, v in p.items() if isinstance(v, (int, float, str)) and k not in ("directory",)} for p in points
    ]
    summary = {
        "study": name,
        "families": families,
        "loss_metric": loss_metric,
        "quality_metric": quality_metric,
        "points": sorted(numeric, key=lambda p: (p["budget"], p["family"], p["preset"])),
        "table": table,
        "analysis": analysis,
        "plots": plots,
    }
    atomic_write_json(out / "result.json", summary)
    return summary


def run_scaling(study: ScalingStudy, out: Path) -> dict[str, Any]:
    """Run every planned point on the cluster (skipping finished ones), then analyse."""
    import ray

    from cola_platform.tracking.study_runs import open_study_run
    from cola_platform.data.ray_env import ensure_ray

    runs, overrides = plan(study)
    ensure_ray()
    cpus = ray.cluster_resources().get("CPU", 1)
    concurrency = study.max_concurrent or max(1, int(cpus // max(1, study.workers)))
    overrides["run.tracking_uri"] = os.environ.get("MLFLOW_TRACKING_URI", "")  # the points' tasks inherit it
    # one torch thread per core: concurrent points must not fight over the cores
    overrides["train.threads"] = max(1, int(cpus // (concurrency * max(1, study.workers))))
    params = {
        "families": study.families,
        "budgets": study.budgets,
        "presets": study.presets,
        "loss_metric": study.loss_metric,
        "quality_metric": study.quality_metric,
        "workers": study.workers,
        "quality_thresholds": study.quality_thresholds,
        "family_time_cap_s": study.family_time_cap_s,
    }
    parent = open_study_run(study.name, kind="scaling", params=params, tracking_uri=overrides["run.tracking_uri"])
    jobs = [
        PointJob(study, r, overrides, str(point_directory(out, study, r, overrides).absolute()), parent.run_id)
        for r in runs
        if not r.skipped
    ]
    gate = BudgetGate(study.family_time_cap_s, max(study.quality_thresholds, default=0.0), study.quality_metric)
    points, skipped = run_points(jobs, concurrency, cpus_per_point=1 if study.workers == 0 else 0.001, gate=gate)
    retire_stale_points(overrides["run.tracking_uri"], study.name, {Path(j.directory).name for j in jobs})
    summary = build_report(
        study.name,
        points,
        study.families,
        study.loss_metric,
        study.quality_metric,
        out,
        thresholds=study.quality_thresholds,
        skipped=skipped,
    )
    summary.update(n_planned=len(jobs), n_failed=len(jobs) - len(points), mlflow_parent_run_id=parent.run_id)
    atomic_write_json(out / "result.json", summary)
    parent.log_summary(summary, out)
    return summary
