"""Benchmarks: `python -m jobs.bench {train,sample,data,platform,all,study,frontier,faults} --json FILE [--tiny]`.

Every part warms up, repeats and reports medians with their spread. The report starts with the
machine (cores, torch threads, BLAS) and the fp32 GEMM peak measured in the same run, so training
throughput is stated as a fraction of what this machine's matrix multiply reaches. The JSON is
rewritten after every part (a failing part loses nothing already measured); a Markdown summary is
written next to it (FILE with `.md`) and printed last. `--tiny` shrinks every part to seconds (the
test suite's schema check).

`study --study studies/demo.toml` runs a scaling study (finished points are read, not re-run) and
reports where its wall time went: per point the Ray Train phases, training steps, evaluation and
the rest, and `training_step_share`, training-step seconds over the study's wall time.

`frontier --runs AR_RUN,COLA_RUN,LLADA_RUN` sweeps each family's sampler speed knobs (Cola: ODE steps,
CFG, solver; LLaDA: steps, block length, CFG) and measures tokens/s at `--sample-batches` against
storyworld quality (grammatical-sentence share and validity with standard errors); it reports each
family's frontier, `cola_over_ar_at_ar_quality`, and a plot (FILE with `.png`).

`faults [--only NAME[,NAME]]` runs the fault drills of `cola_platform/faults/` (every fault the
platform claims to survive, injected into the real jobs, a throwaway cluster on free loopback ports,
Ray Train workers) and reports each as held or failed with what was measured; FILE's `.md` is the
reliability table (docs/reliability.md). Exit 1 when a fault failed. 10-30 minutes on 2 cores, depending
on what else runs.
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from cola_core.utils.io import atomic_write_json
from cola_platform.errors import UserError
from jobs._cli import Parser, run_main, setup_logging

log = logging.getLogger("jobs.bench")
PartFn = Callable[[Any, dict], dict]


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def part_train(args: Any, report: dict) -> dict:
    """Training steps per family and preset: tokens/s and model FLOP/s / GEMM peak."""
    from cola_platform.bench.train_step import bench_train_steps

    presets = ["tiny"] if args.tiny else _csv(args.train_presets)
    return bench_train_steps(
        presets,
        _csv(args.families),
        args.vocab_size,
        report["gemm_peak"]["flops_per_second"],
        repeats=2 if args.tiny else args.repeats,
        compile_families=_csv(args.train_compile),
        profile=_csv(args.profile),
    )


def part_sample(args: Any, report: dict) -> dict:
    """Sampling tokens/s and latency per family at batch sizes, with the pass-cost model."""
    from cola_platform.bench.sampling import bench_sampling

    if args.tiny:
        return bench_sampling(preset="tiny", vocab_size=300, new_tokens=16, batches=(1, 2), repeats=1)
    return bench_sampling(
        preset=args.sample_preset,
        vocab_size=args.vocab_size,
        new_tokens=args.sample_new_tokens,
        batches=tuple(int(b) for b in _csv(args.sample_batches)),
        repeats=args.repeats,
    )


def part_data(args: Any, report: dict) -> dict:
    """Tokenization and ingest throughput, and ingest over what training consumes."""
    from cola_platform.bench.data import bench_data
    from cola_platform.bench.train_step import step_figures

    docs, seq, vocab = (300, 64, 300) if args.tiny else (args.data_docs, args.seq_len, args.vocab_size)
    figures = bench_data(
        docs=docs, seq_len=seq, vocab_size=vocab, ray_address=args.ray_address, workdir=args.workdir or None
    )
    train = report["results"].get("train")
    if train:  # the fastest consumer measured in this run: the hardest one to feed
        rows = [v for v in train.values() if isinstance(v, dict) and "tokens_per_second" in v]
        consumer = max(rows, key=lambda v: v["tokens_per_second"])
    else:
        preset = "tiny" if args.tiny else _csv(args.train_presets)[0]
        consumer = step_figures("ar", preset, vocab, report["gemm_peak"]["flops_per_second"], repeats=2)
    rate = consumer["tokens_per_second"]
    figures["training_consumption"] = {
        "tokens_per_second": rate,
        "family": consumer["family"],
        "preset": consumer["preset"],
    }
    for key in ("tokenize_only", "ingest_ray_data", "ingest_ray_data_warm", "ingest_read_split"):
        figures[key]["over_training"] = figures[key]["tokens_per_second"] / rate
    return figures


def part_platform(args: Any, report: dict) -> dict:
    """2 Ray Train workers (ZeRO-2) vs in-process on the same global batch, and Ray Train's fixed cost."""
    from cola_platform.bench.platform import bench_platform

    if args.tiny:
        return bench_platform(
            preset="tiny",
            steps=8,
            warmup=2,
            global_batch=4,
            docs=300,
            seq_len=64,
            vocab_size=300,
            workdir=args.workdir or None,
        )
    return bench_platform(
        preset=args.platform_preset,
        steps=args.platform_steps,
        global_batch=args.platform_global_batch,
        seq_len=args.seq_len,
        vocab_size=args.vocab_size,
        workdir=args.workdir or None,
    )


def part_study(args: Any, report: dict) -> dict:
    """A scaling study's wall time by phase (runs the unfinished points first)."""
    from cola_platform.bench.study import breakdown_markdown, study_breakdown
    from cola_platform.paths import project_path
    from cola_platform.scaling.runner import run_scaling
    from sweeps.scaling_plan import load_scaling_study

    if not args.study:
        raise UserError("jobs.bench study needs --study STUDY.toml")
    study = load_scaling_study(args.study)
    study.data = project_path(study.data)
    out = Path(project_path(args.out or str(Path("runs") / "scaling" / study.name)))
    run_scaling(study, out)
    figures = study_breakdown(out)
    figures["markdown"] = breakdown_markdown(study.name, figures)
    figures["study_dir"] = str(out)
    return figures


def part_frontier(args: Any, report: dict) -> dict:
    """Each family's sampler speed knobs: tokens/s at each batch against storyworld quality, on trained runs."""
    from cola_platform.bench.frontier import bench_frontier
    from cola_platform.paths import project_path

    runs = [project_path(r) for r in _csv(args.runs)]
    if not runs:
        raise UserError("jobs.bench frontier needs --runs RUN[,RUN...] (finished run directories)")
    batches = tuple(int(b) for b in _csv(args.sample_batches))
    plot = Path(args.json).with_suffix(".png")
    compare = tuple(_csv(args.frontier_compare))
    if len(compare) != 2:
        raise UserError(f"--frontier-compare needs FAMILY,REFERENCE, got {args.frontier_compare!r}")
    if args.tiny:
        return bench_frontier(runs, batches=(1, 2), samples=4, new_tokens=8, repeats=1, plot=plot, compare=compare)
    return bench_frontier(
        runs,
        batches=batches,
        samples=args.frontier_samples,
        new_tokens=args.frontier_new_tokens,
        plot=plot,
        compare=compare,
    )


PARTS: dict[str, PartFn] = {"train": part_train, "sample": part_sample, "data": part_data, "platform": part_platform}
EXTRA_PARTS: dict[str, PartFn] = {"study": part_study, "frontier": part_frontier}
"""Parts that `all` does not run (a study is not a micro-benchmark)."""


def run_faults_part(args: Any, command: str) -> int:
    """`faults`: the fault drills (no GEMM peak: nothing here is a throughput); 1 when a fault failed."""
    from cola_platform.faults.report import table
    from cola_platform.faults.runner import run_suite

    report = run_suite(Path(args.json), command, only=_csv(args.only), workdir=args.workdir)
    print(table(report["faults"]))
    counts = report["verdicts"]
    log.info("%d held, %d failed in %.0f s", counts["held"], counts["failed"], report["seconds"])
    return 1 if counts["failed"] else 0


def build_parser() -> Parser:
    p = Parser(prog="jobs.bench", description=__doc__)
    p.add_argument("part", choices=[*PARTS, "all", *EXTRA_PARTS, "faults"], help="which benchmark to run")
    p.add_argument("--json", required=True, help="where to write the figures (a .md summary goes next to it)")
    p.add_argument("--tiny", action="store_true", help="seconds-long version of every part (schema checks)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (after warm-up)")
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--seq-len", type=int, default=128, help="data / platform: sequence length")
    p.add_argument("--families", default="ar,llada,cola", help="train: families")
    p.add_argument("--train-presets", default="s,m", help="train: presets")
    p.add_argument(
        "--train-compile",
        default="ar,llada,cola",
        help="train: families also measured under torch.compile at the last preset ('' for none)",
    )
    p.add_argument("--profile", default="", help="train: FAMILY/PRESET list to run under torch.profiler (top ops)")
    p.add_argument("--sample-preset", default="s")
    p.add_argument("--sample-new-tokens", type=int, default=256)
    p.add_argument("--sample-batches", default="1,8")
    p.add_argument("--data-docs", type=int, default=10000, help="data: storyworld documents")
    p.add_argument("--ray-address", default="auto", help="data: auto | local | HOST:PORT")
    p.add_argument(
        "--workdir", default="", help="data / platform / faults: keep generated corpora, shards and runs here"
    )
    p.add_argument("--platform-preset", default="xs")
    p.add_argument("--platform-steps", type=int, default=30)
    p.add_argument("--platform-global-batch", type=int, default=64)
    p.add_argument("--study", default="", help="study: the scaling study TOML")
    p.add_argument("--out", default="", help="study: its directory (default: runs/scaling/<study name>)")
    p.add_argument("--only", default="", help="faults: run only these faults (comma-separated names)")
    p.add_argument("--runs", default="", help="frontier: finished run directories (comma-separated, one per family)")
    p.add_argument("--frontier-samples", type=int, default=32, help="frontier: quality samples per setting")
    p.add_argument("--frontier-new-tokens", type=int, default=48, help="frontier: new tokens per sample")
    p.add_argument(
        "--frontier-compare", default="cola,ar", help="frontier: FAMILY,REFERENCE whose speed ratio is the headline"
    )
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cola_platform.bench.measure import gemm_peak, machine
    from cola_platform.bench.summary import summary_markdown

    setup_logging(args.verbose)
    if args.repeats < 1:
        raise UserError(f"--repeats={args.repeats} must be >= 1")
    argv_list = list(argv) if argv is not None else sys.argv[1:]
    if args.part == "faults":
        return run_faults_part(args, "python -m jobs.bench " + shlex.join(argv_list))
    report: dict[str, Any] = {
        "command": "python -m jobs.bench " + shlex.join(argv_list),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "gemm_peak": gemm_peak(n=512 if args.tiny else 2048),
        "results": {},
    }
    log.info("fp32 GEMM peak: %.1f GFLOP/s", report["gemm_peak"]["flops_per_second"] / 1e9)
    md_path = Path(args.json).with_suffix(".md")
    for name in list(PARTS) if args.part == "all" else [args.part]:
        start = time.perf_counter()
        figures = {**PARTS, **EXTRA_PARTS}[name](args, report)
        report["results"][name] = {**figures, "bench_seconds": time.perf_counter() - start}
        atomic_write_json(args.json, report)  # keep what is done if a later part fails
    report["gemm_peak_after"] = gemm_peak(n=512 if args.tiny else 2048)
    atomic_write_json(args.json, report)
    summary = summary_markdown(report)
    md_path.write_text(summary)
    log.info("wrote %s and %s", args.json, md_path)
    print(summary)
    return 0


if __name__ == "__main__":
    run_main(main)
