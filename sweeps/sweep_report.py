"""Summaries of finished sweeps: the trial table, the best config, per-question analyses and plots."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from cola_core.config import Config
from sweeps.rate_distortion import rd_analysis, rd_markdown
from sweeps.remainder_report import remainder_markdown, remainder_rows
from sweeps.rq1 import drift_test
from sweeps.space import GRIDDABLE
from sweeps.study import SweepStudy
from sweeps.values import finite

PAPER_RQ1 = {16: 1.0, 64: 1.7, 128: 2.3}


def full_tokens(record: dict, full_trial_tokens: float) -> float:
    """Tokens a full run of this trial trains on: its own (`full_trial_tokens` in the record, set when
    its point changes the steps or the batch) or the study's."""
    own = record.get("full_trial_tokens")
    return own if finite(own) and own > 0 else full_trial_tokens


def ran_full(record: dict, full_trial_tokens: float) -> bool:
    """Whether a trial saw the tokens of a full trial (a scheduler did not stop it early)."""
    return finite(record.get("tokens")) and record["tokens"] >= 0.999 * full_tokens(record, full_trial_tokens)


def best_trial(records: list[dict], metric: str, mode: str) -> dict | None:
    """The finished trial with the best `metric`."""
    ok = [r for r in records if r["status"] == "ok" and finite(r.get(metric))]
    if not ok:
        return None
    return (min if mode == "min" else max)(ok, key=lambda r: r[metric])


def compare_groups(records: list[dict], key: str, metric: str, mode: str) -> list[dict]:
    """Mean and standard error of `metric` per value of `key`, best first."""
    groups: dict[Any, list[float]] = {}
    for r in records:
        if r["status"] == "ok" and finite(r.get(metric)) and key in r:
            groups.setdefault(r[key], []).append(r[metric])
    rows = []
    for value, xs in groups.items():
        mean = sum(xs) / len(xs)
        se = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) / len(xs)) if len(xs) > 1 else float("nan")
        rows.append({"value": value, "mean": mean, "stderr": se, "n": len(xs)})
    return sorted(rows, key=lambda row: row["mean"], reverse=(mode == "max"))


def compute_spent(
    records: list[dict],
    study: SweepStudy,
    full_trial_flops: float,
    full_trial_tokens: float,
    full_grid_flops: float | None = None,
) -> dict[str, float]:
    """FLOPs the sweep trained versus running every trial to the end, and versus the full grid.

    A trial stopped early is one that saw fewer tokens than a full trial (FLOPs per token differ
    between trials, e.g. with the latent dim, so FLOPs cannot tell). A trial's full-run FLOPs are its
    own FLOPs per token times its full token count; the grid's are `full_grid_flops` (each grid point
    its own full trial) when the caller knows them, else the base config's full trial per point."""

    def full(r: dict) -> float:
        seen = r.get("tokens")
        return (
            r["flops"] * full_tokens(r, full_trial_tokens) / seen
            if finite(seen) and seen and finite(r.get("flops"))
            else full_trial_flops
        )

    spent = sum(r.get("flops", 0.0) for r in records if finite(r.get("flops")))
    grid_size = len(study.space.grid_points()) if all(p.kind in GRIDDABLE for p in study.space.params.values()) else 0
    stopped = sum(1 for r in records if finite(r.get("tokens")) and not ran_full(r, full_trial_tokens))
    return {
        "flops_spent": spent,
        "flops_all_trials_full": sum(full(r) for r in records),
        "flops_full_grid": (full_trial_flops * grid_size if full_grid_flops is None else full_grid_flops)
        * (study.num_samples if study.search == "grid" else 1),
        "trials_stopped_early": stopped,
        "grid_size": grid_size,
    }


def summarize(
    study: SweepStudy,
    records: list[dict],
    out: Path,
    full_trial_flops: float,
    full_trial_tokens: float,
    full_grid_flops: float | None = None,
) -> dict[str, Any]:
    """Everything the study's result.json and MLflow parent run hold; writes summary.md and plots."""
    metric, mode = study.objective[0], study.mode[0]
    full = [r for r in records if ran_full(r, full_trial_tokens)]
    best = best_trial(full or records, metric, mode)  # a trial stopped early is measured earlier: not comparable
    summary: dict[str, Any] = {
        "study": study.name,
        "objective": study.objective,
        "mode": study.mode,
        "search": study.search,
        "scheduler": study.scheduler,
        "n_trials": len(records),
        "n_ok": sum(r["status"] == "ok" for r in records),
        "n_failed": sum(r["status"] != "ok" for r in records),
        "best": best,
        "best_value": best.get(metric) if best else None,
        "compute": compute_spent(records, study, full_trial_flops, full_trial_tokens, full_grid_flops),
        "trials": records,
        "full_trial_tokens": full_trial_tokens,
    }
    if study.analysis == "rq1":
        summary["rq1"] = rq1_analysis(records, metric, mode)
    if study.analysis == "compare":
        summary["compare"] = {"key": study.group_by, "rows": compare_groups(records, study.group_by, metric, mode)}
    if study.analysis == "rate_distortion":
        summary["rate_distortion"] = rd_analysis(records, study.group_by)
    remainders = remainder_rows(records, sorted(study.space.params))
    if remainders:
        summary["remainders"] = remainders
    from sweeps.sweep_plots import write_plots

    summary["plots"] = [str(p) for p in write_plots(study, records, summary, out / "plots")]
    (out / "summary.md").write_text(markdown(study, summary))
    return summary


def rq1_analysis(records: list[dict], metric: str, mode: str) -> dict[str, Any]:
    """Best loc per latent dim and the drift test, or the reason it could not run."""
    rows = [
        r
        for r in records
        if r["status"] == "ok" and finite(r.get(metric)) and "model.latent_dim" in r and "objective.noise_loc" in r
    ]
    try:
        result = drift_test(rows, metric=metric, mode=mode).to_dict()
    except ValueError as err:
        return {"error": str(err)}
    result["paper"] = PAPER_RQ1
    return result


CONFIG_SECTIONS = frozenset(f.name for f in dataclasses.fields(Config))


def _is_parameter(key: str, study: SweepStudy) -> bool:
    """A searched name or a config key (`section.field`); metric names like `dec_acc_s0.1` are neither."""
    return key in study.space.params or key.split(".", 1)[0] in CONFIG_SECTIONS and "." in key


def markdown(study: SweepStudy, s: dict[str, Any]) -> str:
    """A human-readable report of the summary."""
    metric = study.objective[0]
    lines = [
        f"# Sweep `{study.name}`",
        "",
        *([study.description, ""] if study.description else []),
        f"- search: {study.search}, scheduler: {study.scheduler}, objective: {', '.join(study.objective)} "
        f"({', '.join(study.mode)})",
        f"- trials: {s['n_trials']} ({s['n_ok']} ok, {s['n_failed']} failed)",
    ]
    c = s["compute"]
    lines.append(
        f"- compute: {c['flops_spent']:.3g} FLOPs trained; every trial to the end {c['flops_all_trials_full']:.3g}; "
        f"full grid {c['flops_full_grid']:.3g}; stopped early: {c['trials_stopped_early']}"
    )
    if s["best"]:
        params = {k: v for k, v in s["best"].items() if _is_parameter(k, study)}
        lines += ["", f"**Best** {metric} = {s['best_value']:.4g} with `{params}`"]
    keys = sorted({k for r in s["trials"] for k in r if _is_parameter(k, study)})
    full = s.get("full_trial_tokens") or 0

    def trained(r: dict) -> float:
        own = full_tokens(r, full)
        return r["tokens"] / own if own and finite(r.get("tokens")) else math.nan

    lines += [
        "",
        f"{metric} is measured where each trial stopped: a trial stopped early by the scheduler is not "
        "comparable with a full one.",
        "",
        "| " + " | ".join([*keys, metric, "trained (share of a full trial)", "status"]) + " |",
        "|" + "---|" * (len(keys) + 3),
    ]
    sign = -1.0 if study.mode[0] == "max" else 1.0
    for r in sorted(
        s["trials"],
        key=lambda r: (
            r["status"] != "ok",
            -round(trained(r), 3) if finite(trained(r)) else 0.0,
            sign * r.get(metric, math.inf) if finite(r.get(metric)) else math.inf,
        ),
    ):
        share = trained(r)
        cells = [_fmt(r.get(k)) for k in keys] + [
            _fmt(r.get(metric)),
            f"{share:.0%}" + ("" if ran_full(r, full) else " (stopped)") if finite(share) else "",
            r["status"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if "rq1" in s and "dims" in s["rq1"]:
        q = s["rq1"]
        lines += [
            "",
            "## RQ1: best noise location per latent dim",
            "",
            "| latent dim | best loc | 95% CI | paper |",
            "|---|---|---|---|",
        ]
        for d in q["dims"]:
            lines.append(
                f"| {d['latent_dim']} | {d['best_loc']:.2f} | [{d['best_loc_ci'][0]:.2f}, {d['best_loc_ci'][1]:.2f}] "
                f"| {PAPER_RQ1.get(d['latent_dim'], '')} |"
            )
        lines.append(
            f"\nslope of best loc vs ln(d/16): {q['slope']:.2f} (95% CI {q['slope_ci'][0]:.2f}..{q['slope_ci'][1]:.2f}); "
            f"monotonic drift: **{q['monotonic_drift']}** ({q['direction']}, {q['monotone_fraction']:.0%} of bootstrap replicates ordered)"
        )
    if "compare" in s:
        lines += ["", f"## {s['compare']['key']}", "", f"| value | mean {metric} | stderr | n |", "|---|---|---|---|"]
        lines += [f"| {r['value']} | {r['mean']:.4g} | {r['stderr']:.2g} | {r['n']} |" for r in s["compare"]["rows"]]
    if "rate_distortion" in s:
        lines += rd_markdown(s["rate_distortion"])
    lines += remainder_markdown(s.get("remainders", []), sorted(study.space.params))
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
