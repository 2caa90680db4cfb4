"""The Markdown summary of a `jobs.bench` report: one table per part, ratios first."""

from __future__ import annotations

from typing import Any


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _train(r: dict[str, Any]) -> list[str]:
    rows = [
        [
            key,
            f"{v['tokens_per_second']:,.0f}",
            f"{v['model_flops_per_second'] / 1e9:.1f}",
            _pct(v["fraction_of_gemm_peak"]),
            _pct(v["fraction_of_local_gemm_peak"]),
            f"{v['step_seconds']['median']:.3f}",
            _pct(v["step_seconds"]["spread"]),
        ]
        for key, v in r.items()
        if isinstance(v, dict) and "step_seconds" in v
    ]
    lines = [
        "## Training step (forward + backward + AdamW)",
        "",
        *_table(
            [
                "family/preset",
                "tokens/s",
                "model GFLOP/s",
                "of GEMM peak",
                "of the peak just before",
                "step s (median)",
                "spread",
            ],
            rows,
        ),
    ]
    for key, prof in r.get("profiles", {}).items():
        ops = [
            [o["op"], f"{o['self_seconds_per_step']:.3f}", _pct(o["share"]), f"{o['calls_per_step']:.0f}"]
            for o in prof["top_ops"]
        ]
        lines += [
            "",
            f"Profile of one eager `{key}` step ({prof['self_seconds_per_step']:.2f} s of op self time)",
            "",
            *_table(["op", "s per step", "share", "calls per step"], ops),
        ]
    return lines


def _sample(r: dict[str, Any]) -> list[str]:
    rows = [
        [
            key,
            f"{v['tokens_per_second']:,.0f}",
            f"{v['latency_seconds']['median']:.3f}",
            _pct(v["latency_seconds"]["spread"]),
            " ".join(f"{k}={n}" for k, n in v["passes"].items()),
            f"{v['wall_over_network']:.3f}",
        ]
        for key, v in r["runs"].items()
    ]
    lines = [
        f"## Sampling ({r['new_tokens']} new tokens after a {r['prompt_len']}-token prompt, preset {r['preset']})",
        "",
        *_table(["sampler/batch", "tokens/s", "latency s", "spread", "passes per call", "wall / network"], rows),
    ]
    pred = [
        [
            key,
            f"{v['measured']:.3f}",
            f"{v['this_machine']:.3f}",
            _pct(v["measured_over_predicted"]),
            f"{v['memory_bound_accelerator']:.2f}",
            f"{v['sequential_passes_ar']:.0f} / {v['sequential_passes_cola']:.0f}",
        ]
        for key, v in r["cola_vs_ar"].items()
    ]
    lines += [
        "",
        "Cola / AR tokens-per-second ratio: measured vs the pass-cost model",
        "",
        *_table(
            [
                "cola sampler/batch",
                "measured",
                "predicted (this machine)",
                "measured / predicted",
                "predicted (memory-bound accelerator)",
                "sequential passes AR / Cola",
            ],
            pred,
        ),
    ]
    costs = [
        [
            b,
            *(
                f"{1e3 * c[k]:.2f}"
                for k in (
                    "ar_1_token",
                    "ar_block_tokens",
                    "dit_block",
                    "dit_block_guided",
                    "dit_block_guided_fused",
                    "decoder_block",
                )
            ),
        ]
        for b, c in r["pass_costs"].items()
    ]
    lines += [
        "",
        "Bare pass costs (ms) at a mid-generation cache",
        "",
        *_table(
            [
                "batch",
                "AR 1 token",
                "AR block of tokens",
                "DiT block",
                "DiT block, CFG",
                "DiT block, CFG + commit",
                "decoder block",
            ],
            costs,
        ),
    ]
    return lines


def _data(r: dict[str, Any]) -> list[str]:
    keys = [
        "tokenize_only",
        "prepare_local_jsonl",
        "prepare_ray_jsonl",
        "prepare_local_storyworld",
        "prepare_ray_storyworld",
        "ingest_ray_data",
        "ingest_ray_data_warm",
        "ingest_read_split",
    ]
    rows = [
        [k, f"{r[k]['tokens_per_second']:,.0f}", f"{r[k]['over_training']:.0f}x" if "over_training" in r[k] else ""]
        for k in keys
        if k in r
    ]
    c = r.get("training_consumption", {})
    return [
        f"## Data ({r['documents']} documents; training consumes {c.get('tokens_per_second', 0):,.0f} tokens/s "
        f"at {c.get('family')}/{c.get('preset')})",
        "",
        *_table(["stage", "tokens/s", "over training"], rows),
    ]


def _platform(r: dict[str, Any]) -> list[str]:
    labels = [k for k, v in r.items() if isinstance(v, dict) and "step_seconds" in v]
    rows = [
        [
            k,
            f"{r[k]['tokens_per_second']:,.0f}",
            f"{r[k]['step_seconds']['median']:.3f}",
            _pct(r[k]["step_seconds"]["spread"]),
            r[k]["micro_batch_size"],
        ]
        for k in labels
    ]
    return [
        f"## Platform ({r['preset']}, global batch {r['global_batch']} x {r['seq_len']} tokens)",
        "",
        *_table(["run", "tokens/s", "step s (median)", "spread", "micro batch"], rows),
        "",
        f"Distributed / in-process: **{r['ratio_to_in_process']:.3f}**; parallel efficiency "
        f"{r['parallel_efficiency']:.3f}; Ray Train fixed cost {r['fixed_cost']['overhead_seconds']:.1f} s per run.",
    ]


def _study(r: dict[str, Any]) -> list[str]:
    return ["## Study", "", *r["markdown"].replace("# ", "### ", 1).splitlines()]


def _frontier(r: dict[str, Any]) -> list[str]:
    return ["## Frontier", "", *r["markdown"].replace("# ", "### ", 1).splitlines()]


SECTIONS = {
    "train": _train,
    "sample": _sample,
    "data": _data,
    "platform": _platform,
    "study": _study,
    "frontier": _frontier,
}


def summary_markdown(report: dict[str, Any]) -> str:
    """Markdown tables for every part in `report` (a `jobs.bench` JSON)."""
    m, peak = report["machine"], report["gemm_peak"]["flops_per_second"]
    after = report.get("gemm_peak_after", {}).get("flops_per_second")
    lines = [
        f"# Benchmarks: `{report['command']}`",
        "",
        f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads, {m['blas']}, "
        f"{m['parallel_backend']}), load average at start {m['load_average']}.",
        f"fp32 GEMM peak ({report['gemm_peak']['n']}^3): **{peak / 1e9:.1f} GFLOP/s** at the start"
        + (f", {after / 1e9:.1f} GFLOP/s at the end." if after else "."),
        "",
    ]
    for name, section in SECTIONS.items():
        if name in report["results"]:
            lines += section(report["results"][name]) + ["", f"({report['results'][name]['bench_seconds']:.0f} s)", ""]
    return "\n".join(lines)
