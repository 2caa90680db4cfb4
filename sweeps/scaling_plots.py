"""Scaling-study plots (PNG) and the Markdown report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sweeps.scaling_report import LIKELIHOOD, READABLE  # noqa: E402
from sweeps.values import finite, points_of  # noqa: E402

COLORS = {"cola": "tab:red", "ar": "tab:blue", "llada": "tab:green"}


def _log_x(ax) -> None:
    """Log x axis when the axes hold positive data (an empty panel, whose limits are infinite, stays linear
    instead of failing)."""
    if ax.has_data() and math.isfinite(ax.dataLim.x0) and ax.dataLim.x0 > 0:
        ax.set_xscale("log")


def _panel(
    ax,
    points: list[dict],
    analysis: dict[str, Any],
    metric: str,
    curve_key: str,
    fit_key: str | None,
    relative: bool = False,
) -> None:
    """Every point (faint) and each family's frontier (line), with its power-law fit when there is one;
    `relative` divides a family's values by its frontier's value at its smallest budget."""
    for fam, data in analysis["families"].items():
        color = COLORS.get(fam)
        curve = [c for c in data[curve_key] if finite(c["value"])]  # a family without the metric has NaNs
        scale = 1.0 / curve[0]["value"] if relative and curve and curve[0]["value"] else 1.0
        every = points_of(points, fam, metric=metric)
        ax.scatter([p["flops"] for p in every], [p[metric] * scale for p in every], s=12, alpha=0.35, color=color)
        label = f"{fam}: {data['readable_name']}" if metric == READABLE and data.get("readable_name") else fam
        if relative and curve:
            label += f" (÷ {curve[0]['value']:.4g})"
        ax.plot([c["flops"] for c in curve], [c["value"] * scale for c in curve], "o-", color=color, label=label)
        fit = data.get(fit_key) if fit_key else None
        if fit and curve:
            xs = [curve[0]["flops"] * (curve[-1]["flops"] / curve[0]["flops"]) ** (i / 20) for i in range(21)]
            ax.plot(
                xs,
                [10 ** (fit["log10_a"] + fit["alpha"] * math.log10(x)) for x in xs],
                ":",
                color=color,
                label=f"{fam} fit α={fit['alpha']:.2f}",
            )


def curves_plot(points: list[dict], analysis: dict[str, Any], path: Path) -> Path:
    """Quality metric, each family's readable diagnostic, and likelihood (nats/token) vs compute."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.9))
    panels = (
        (
            axes[0],
            analysis["quality_metric"],
            "quality_curve",
            "quality_fit",
            f"{analysis['quality_metric']} (higher is better)",
        ),
        (axes[1], READABLE, "readable_curve", None, "readable diagnostic ÷ its value at the smallest budget"),
        (axes[2], LIKELIHOOD, "likelihood_curve", "likelihood_fit", f"{LIKELIHOOD} (lower is better)"),
    )
    for ax, metric, curve_key, fit_key, ylabel in panels:
        _panel(ax, points, analysis, metric, curve_key, fit_key, relative=metric == READABLE)
        ax.set_ylabel(ylabel, fontsize=8)
        if metric == LIKELIHOOD and ax.has_data() and math.isfinite(ax.dataLim.y0) and ax.dataLim.y0 > 0:
            ax.set_yscale("log")  # the families' likelihood numbers span orders of magnitude at small scale
        _log_x(ax)
        ax.set_xlabel("training FLOPs")
        ax.legend(fontsize=7)
    axes[1].set_title(
        "each family's readable diagnostic (FamilySpec.readable_metric; lower is better),\n"
        "relative to its smallest budget, so units and scales do not hide a trend",
        fontsize=8,
    )
    fig.suptitle("Compute-matched Cola vs AR vs LLaDA", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def isoflop_plot(points: list[dict], loss: str, path: Path) -> Path:
    """Loss against backbone size, one line per (family, budget)."""
    fams = sorted({p["family"] for p in points})
    fig, axes = plt.subplots(1, len(fams), figsize=(4 * len(fams), 3.4), squeeze=False)
    for ax, fam in zip(axes[0], fams):
        for budget in sorted({p["budget"] for p in points_of(points, fam)}):
            rows = sorted(points_of(points, fam, budget, loss), key=lambda p: p["params_backbone"])
            ax.plot([p["params_backbone"] for p in rows], [p[loss] for p in rows], "o-", label=f"{budget:.2g} FLOPs")
        _log_x(ax)
        ax.set_title(fam, fontsize=9)
        ax.set_xlabel("backbone params")
        ax.set_ylabel(loss)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(study_name: str, table: list[dict], analysis: dict[str, Any], plots: list[str], metrics: list[str]) -> str:
    """The study report: comparison table, fits, crossovers, plot links."""
    lines = [
        f"# Scaling study `{study_name}`",
        "",
        "## Compute-matched comparison (best preset per family and budget)",
        "",
        "| budget (FLOPs) | family | preset | " + " | ".join(metrics) + " |",
        "|---|---|---|" + "---|" * len(metrics),
    ]
    for r in table:
        cells = [f"{r[m]:.4g}" if isinstance(r.get(m), (int, float)) else "" for m in metrics]
        lines.append(f"| {r['budget']:.3g} | {r['family']} | {r['preset']} | " + " | ".join(cells) + " |")
    lines += ["", "## Fits", "", "| family | quality α (95% CI) | R² | likelihood α | R² |", "|---|---|---|---|---|"]
    for fam, d in analysis["families"].items():
        q, lk = d["quality_fit"], d["likelihood_fit"]
        qs = f"{q['alpha']:.3f} ({q['alpha_ci'][0]:.3f}..{q['alpha_ci'][1]:.3f}) | {q['r2']:.2f}" if q else "n/a | "
        ls = f"{lk['alpha']:.3f} | {lk['r2']:.2f}" if lk else "n/a | "
        lines.append(f"| {fam} | {qs} | {ls} |")
    if analysis["crossovers"]:
        lines += ["", f"## Crossovers on {analysis['quality_metric']}", ""]
        for name, x in analysis["crossovers"].items():
            if x["budget"]:
                ci = f" (95% CI {x['budget_ci'][0]:.3g}..{x['budget_ci'][1]:.3g})" if x["budget_ci"] else ""
                lines.append(
                    f"- {name}: Cola overtakes at {x['budget']:.3g} FLOPs{ci}; {x['fraction_crossing']:.0%} of bootstrap fits cross"
                )
            else:
                lines.append(f"- {name}: no crossover within range {x['note']}".rstrip())
    if analysis.get("first_reached"):
        metric = analysis["quality_metric"]
        lines += [
            "",
            f"## Training FLOPs at which {metric} first reaches each level",
            "",
            "| family | level | first budget (FLOPs) | training FLOPs | note |",
            "|---|---|---|---|---|",
        ]
        for r in analysis["first_reached"]:
            if r["budget"] is not None:
                lines.append(f"| {r['family']} | {r['threshold']:g} | {r['budget']:.3g} | {r['flops']:.3g} | |")
            else:
                best = f"best {r['best']:.3g}" if r["best"] is not None else "no finished point"
                largest = f" up to {r['largest_budget']:.3g} FLOPs" if r["largest_budget"] else ""
                lines.append(
                    f"| {r['family']} | {r['threshold']:g} | not reached | | {best}{largest}; {r['stopped']} |"
                )
    if analysis.get("skipped"):
        lines += ["", "## Budgets not run", ""] + [
            f"- {s['family']} {s['budget']:.3g} FLOPs: {s['reason']}" for s in analysis["skipped"]
        ]
    lines += ["", "## Plots", ""] + [f"![{Path(p).stem}](plots/{Path(p).name})" for p in plots]
    return "\n".join(lines) + "\n"
