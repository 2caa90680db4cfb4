"""The speed-quality frontier of each family's sampler on trained runs (`python -m jobs.bench frontier`).

For every run, each setting of its family's speed knobs (the `sampler.*` fields the family declares in
`FamilySpec.sampler_knobs`, over the values of `SPEED_KNOBS`) is

- timed at each batch size: tokens/s = batch x requested new tokens / seconds of one `generate` call
  (median of `repeats` after a warm-up; prompts are held-out story openings and blank prompts), so a
  sampler that stops at an early EOS is credited with the time it saved, and the mean length before EOS
  is recorded next to it;
- scored for storyworld quality on `samples` continuations at temperature 1: the grammatical-sentence
  share and whole-sample validity, each with its standard error (`cola_core.eval.quality`).

A setting is on its family's frontier when no other setting of the family is both faster (at the
largest batch) and more grammatical. The headline compares two families when both were measured
(`compare`; `jobs.bench` passes `--frontier-compare cola,ar`):
`cola_over_ar_at_ar_quality` is the fastest Cola setting whose grammatical share reaches AR's best
(within one standard error of it) over AR's tokens/s at that best setting, null when no Cola setting
reaches it; `cola_over_ar_at_cola_best_quality` is Cola's most grammatical setting over AR's fastest
setting at least as grammatical, null when Cola writes no grammatical sentence at all.
"""

from __future__ import annotations

import itertools
import statistics
import time
from copy import deepcopy
from pathlib import Path
from typing import Any

SPEED_KNOBS: dict[str, tuple[Any, ...]] = {
    "steps": (4, 8, 16, 32),
    "cfg": (0.0, 2.0),
    "solver": ("euler", "heun"),
    "block_length": (8, 32),
}
"""Values tried for each speed knob a family declares (Cola: ODE steps per block, CFG, solver; LLaDA:
denoising steps, block length, CFG; AR declares none: one setting)."""


def knob_grid(sampler_knobs: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every combination of the speed knobs among `sampler_knobs` ([{}] when there are none)."""
    names = [k for k in SPEED_KNOBS if k in sampler_knobs]
    return [dict(zip(names, values)) for values in itertools.product(*(SPEED_KNOBS[k] for k in names))]


def measure_setting(
    loaded: Any, knobs: dict[str, Any], batches: tuple[int, ...], samples: int, new_tokens: int, repeats: int
) -> dict[str, Any]:
    """Speed at every batch size and quality of one sampler setting of a loaded run."""
    from cola_core.eval.generate import encode_prompts, make_generate_fn, max_prompt_tokens
    from cola_core.eval.quality import quality_prompts, run_quality

    cfg = deepcopy(loaded.cfg)
    for key, value in {**knobs, "temperature": 1.0, "batch_size": max(batches)}.items():
        setattr(cfg.sampler, key, value)
    sampler = loaded.spec.build_sampler(loaded.model, cfg)
    speed = {}
    for batch in batches:
        ids = encode_prompts(loaded.tokenizer, quality_prompts(batch, seed=1), max_prompt_tokens(cfg, new_tokens))
        sampler.generate(ids, new_tokens)  # warm-up
        seconds, generated = [], 0
        for _ in range(repeats):
            start = time.perf_counter()
            generated = sum(len(out) for out in sampler.generate(ids, new_tokens))
            seconds.append(time.perf_counter() - start)
        speed[str(batch)] = {
            "tokens_per_second": batch * new_tokens / statistics.median(seconds),
            "mean_length": generated / batch,
        }
    quality = run_quality(make_generate_fn(loaded.spec, loaded.model, cfg, loaded.tokenizer), samples, new_tokens)
    return {
        "knobs": knobs,
        "speed": speed,
        "grammatical": quality.grammatical,
        "grammatical_stderr": quality.grammatical_stderr,
        "valid": quality.valid,
        "valid_stderr": quality.valid_stderr,
        "examples": quality.examples[:1],
    }


def mark_frontier(settings: list[dict[str, Any]], batch: str) -> None:
    """Set `frontier` on each setting that no other setting dominates: at least as fast at `batch` and at
    least as grammatical, and better in one of the two."""
    for s in settings:
        tps, g = _tps(s, batch), s["grammatical"]
        s["frontier"] = not any(
            _tps(o, batch) >= tps and o["grammatical"] >= g and (_tps(o, batch) > tps or o["grammatical"] > g)
            for o in settings
        )


def _tps(setting: dict[str, Any], batch: str) -> float:
    return float(setting["speed"][batch]["tokens_per_second"])


def headline(c: str, ours: list[dict[str, Any]], r: str, theirs: list[dict[str, Any]], batch: str) -> dict[str, Any]:
    """Family `c`'s tokens/s over family `r`'s at `r`'s best quality and at `c`'s best quality (keys named
    after both, e.g. `cola_over_ar_at_ar_quality`; see the module docstring)."""
    best_r = max(theirs, key=lambda s: (s["grammatical"], _tps(s, batch)))
    reach = best_r["grammatical"] - best_r["grammatical_stderr"]
    matching = [s for s in ours if s["grammatical"] >= reach and s["grammatical"] > 0]
    at_r = max(matching, key=lambda s: _tps(s, batch)) if matching else None
    best_c = max(ours, key=lambda s: (s["grammatical"], _tps(s, batch)))
    r_there = [s for s in theirs if s["grammatical"] >= best_c["grammatical"] > 0]  # no ratio at zero quality
    r_fastest = max(r_there, key=lambda s: _tps(s, batch)) if r_there else None
    return {
        "batch": int(batch),
        "compare": [c, r],
        f"{r}_best_grammatical": best_r["grammatical"],
        f"{r}_best_grammatical_stderr": best_r["grammatical_stderr"],
        f"{c}_best_grammatical": best_c["grammatical"],
        f"{c}_best_grammatical_stderr": best_c["grammatical_stderr"],
        f"{c}_over_{r}_at_{r}_quality": _tps(at_r, batch) / _tps(best_r, batch) if at_r else None,
        f"{c}_setting_at_{r}_quality": at_r["knobs"] if at_r else None,
        f"{c}_over_{r}_at_{c}_best_quality": (
            _tps(best_c, batch) / _tps(r_fastest, batch) if r_fastest and _tps(r_fastest, batch) else None
        ),
    }


def bench_frontier(
    runs: list[str],
    batches: tuple[int, ...] = (1, 8),
    samples: int = 32,
    new_tokens: int = 48,
    repeats: int = 2,
    plot: Path | None = None,
    compare: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Measure every run's sampler settings; the frontier, the headline of `compare` = (family, reference
    family) when both were measured, and (with `plot`) a PNG."""
    import logging

    from cola_platform.training.export import load_run

    log = logging.getLogger(__name__)
    families: dict[str, Any] = {}
    for run in runs:
        loaded = load_run(run)
        grid = knob_grid(loaded.spec.sampler_knobs)
        settings = []
        for i, knobs in enumerate(grid):
            settings.append(measure_setting(loaded, knobs, batches, samples, new_tokens, repeats))
            log.info("frontier %s: setting %d of %d %s done", loaded.cfg.run.family, i + 1, len(grid), knobs or "")
        mark_frontier(settings, str(max(batches)))
        families[loaded.cfg.run.family] = {"run": str(run), "preset": loaded.cfg.run.preset, "settings": settings}
    figures: dict[str, Any] = {
        "families": families,
        "batches": list(batches),
        "samples": samples,
        "new_tokens": new_tokens,
    }
    if compare and all(name in families for name in compare):
        c, r = compare
        figures.update(headline(c, families[c]["settings"], r, families[r]["settings"], str(max(batches))))
    if plot is not None:
        plot_frontier(families, str(max(batches)), plot)
        figures["plot"] = str(plot)
    figures["markdown"] = frontier_markdown(figures)
    return figures


def plot_frontier(families: dict[str, Any], batch: str, path: Path) -> None:
    """Grammatical share (with standard errors) against tokens/s, one colour per family, frontier joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for family, entry in sorted(families.items()):
        pts = entry["settings"]
        x = [_tps(s, batch) for s in pts]
        y = [s["grammatical"] for s in pts]
        err = [s["grammatical_stderr"] for s in pts]
        (line,) = ax.plot([], [])
        ax.errorbar(x, y, yerr=err, fmt="o", alpha=0.5, color=line.get_color(), label=f"{family} settings")
        front = sorted((p for p in pts if p["frontier"]), key=lambda s: _tps(s, batch))
        ax.plot([_tps(s, batch) for s in front], [s["grammatical"] for s in front], "-", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel(f"new tokens / s at batch {batch} (log)")
    ax.set_ylabel("grammatical-sentence share (± 1 s.e.)")
    ax.set_title("Sampler speed vs storyworld quality (lines: each family's frontier)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def frontier_markdown(f: dict[str, Any]) -> str:
    """The frontier table (every setting, frontier marked) and the headline."""
    batches = [str(b) for b in f["batches"]]
    lines = [
        f"# Speed-quality frontier ({f['samples']} samples x {f['new_tokens']} new tokens per setting, temperature 1)",
        "",
        "| family | setting | "
        + " | ".join(f"tok/s b{b}" for b in batches)
        + f" | length b{batches[-1]} | grammatical | valid | frontier |",
        "|---|---|" + "---:|" * len(batches) + "---:|---:|---:|:-:|",
    ]
    for family, entry in sorted(f["families"].items()):
        for s in entry["settings"]:
            knobs = ", ".join(f"{k} {v}" for k, v in s["knobs"].items()) or "(defaults)"
            speeds = " | ".join(f"{s['speed'][b]['tokens_per_second']:,.0f}" for b in batches)
            lines.append(
                f"| {family} | {knobs} | {speeds} | {s['speed'][batches[-1]]['mean_length']:.1f} | "
                f"{s['grammatical']:.3f} ± {s['grammatical_stderr']:.3f} | "
                f"{s['valid']:.3f} ± {s['valid_stderr']:.3f} | {'yes' if s['frontier'] else ''} |"
            )
    if "compare" in f:
        c, r = f["compare"]
        at_r, at_c = f[f"{c}_over_{r}_at_{r}_quality"], f[f"{c}_over_{r}_at_{c}_best_quality"]
        lines += [
            "",
            f"At batch {f['batch']}: {r}'s best grammatical share {f[f'{r}_best_grammatical']:.3f} ± "
            f"{f[f'{r}_best_grammatical_stderr']:.3f}, {c}'s best {f[f'{c}_best_grammatical']:.3f} ± "
            f"{f[f'{c}_best_grammatical_stderr']:.3f}. {c} tokens/s over {r}'s at {r}'s quality: "
            + (f"**{at_r:.2f}x** ({f[f'{c}_setting_at_{r}_quality']})" if at_r else "**not reached**")
            + f"; at {c}'s best quality: "
            + (f"**{at_c:.2f}x**" if at_c else f"n/a ({c} wrote no grammatical sentence, or {r} none as many)")
            + ".",
        ]
    return "\n".join(lines)
