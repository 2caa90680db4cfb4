"""Sweep plots (PNG): objective against each parameter, RQ1 best-loc drift, parallel coordinates."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sweeps.rate_distortion import rd_plot  # noqa: E402
from sweeps.study import SweepStudy  # noqa: E402


def _numeric(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def objective_vs_params(study: SweepStudy, records: list[dict], path: Path) -> Path:
    """One panel per searched or derived key: the objective of every finished trial."""
    metric = study.objective[0]
    keys = [k for k in [*study.space.params, *study.space.derived] if any(k in r for r in records)]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4 * max(1, len(keys)), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = [
            (r[key], r[metric])
            for r in records
            if r["status"] == "ok" and key in r and _numeric(r.get(metric)) is not None
        ]
        xs = [p[0] for p in pts]
        if xs and all(_numeric(x) is not None for x in xs):
            ax.scatter(xs, [p[1] for p in pts], s=18)
        else:  # categorical axis
            cats = sorted({str(x) for x in xs})
            ax.scatter([cats.index(str(x)) for x in xs], [p[1] for p in pts], s=18)
            ax.set_xticks(range(len(cats)), cats, rotation=30, fontsize=7)
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
    fig.suptitle(f"{study.name}: {metric} per parameter", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rq1_plot(rq1: dict[str, Any], path: Path) -> Path:
    """Best noise loc per latent dim (with bootstrap CIs), the fitted ln(d/16) trend and the paper's points."""
    dims = [d["latent_dim"] for d in rq1["dims"]]
    best = [d["best_loc"] for d in rq1["dims"]]
    lo = [d["best_loc"] - d["best_loc_ci"][0] for d in rq1["dims"]]
    hi = [d["best_loc_ci"][1] - d["best_loc"] for d in rq1["dims"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(dims, best, yerr=[lo, hi], fmt="o", capsize=4, label="best loc (this sweep, 95% CI)")
    grid = [min(dims) * (max(dims) / min(dims)) ** (i / 50) for i in range(51)]
    ax.plot(
        grid,
        [rq1["intercept"] + rq1["slope"] * math.log(d / 16) for d in grid],
        "-",
        label=f"fit: {rq1['intercept']:.2f} + {rq1['slope']:.2f} ln(d/16)",
    )
    paper = rq1.get("paper", {})
    ax.plot(list(map(int, paper)), list(paper.values()), "x", color="gray", label="paper")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("latent dim d")
    ax.set_ylabel("best noise location")
    ax.set_title(f"RQ1 drift: {'monotonic' if rq1['monotonic_drift'] else 'not monotonic'}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parallel_coordinates(study: SweepStudy, records: list[dict], path: Path) -> Path | None:
    """Every numeric searched/derived key plus the objective, min-max scaled, one line per trial."""
    metric = study.objective[0]
    keys = [
        k
        for k in [*study.space.params, *study.space.derived]
        if any(k in r for r in records) and all(_numeric(r.get(k)) is not None for r in records if k in r)
    ]
    rows = [
        r for r in records if r["status"] == "ok" and _numeric(r.get(metric)) is not None and all(k in r for k in keys)
    ]
    if not keys or len(rows) < 2:
        return None
    cols = [*keys, metric]
    lo = {c: min(float(r[c]) for r in rows) for c in cols}
    hi = {c: max(float(r[c]) for r in rows) for c in cols}
    scaled = lambda r, c: 0.5 if hi[c] == lo[c] else (float(r[c]) - lo[c]) / (hi[c] - lo[c])  # noqa: E731
    fig, ax = plt.subplots(figsize=(1.8 * len(cols) + 1, 3.5))
    cmap = plt.get_cmap("viridis")
    for r in rows:
        ax.plot(range(len(cols)), [scaled(r, c) for c in cols], color=cmap(scaled(r, metric)), alpha=0.8)
    ax.set_xticks(range(len(cols)), cols, rotation=20, fontsize=7)
    ax.set_yticks([])
    ax.set_title(f"{study.name}: parallel coordinates (colour = {metric})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(study: SweepStudy, records: list[dict], summary: dict[str, Any], out: Path) -> list[Path]:
    """All plots that apply to this study."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [objective_vs_params(study, records, out / "objective_vs_params.png")]
    pc = parallel_coordinates(study, records, out / "parallel_coordinates.png")
    if pc:
        paths.append(pc)
    if "dims" in summary.get("rq1", {}):
        paths.append(rq1_plot(summary["rq1"], out / "rq1_best_loc_vs_latent_dim.png"))
    if "points" in summary.get("rate_distortion", {}):
        paths.append(rd_plot(summary["rate_distortion"], out / "rate_distortion.png"))
    return paths
