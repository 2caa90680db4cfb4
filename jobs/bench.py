"""Benchmarks: `python -m jobs.bench {train,sample,data,platform,all} --json FILE`.

Each part is a named function in `BENCHES` that takes the parsed flags and returns a dict of
figures; `all` runs every part in order. The JSON file records the exact command, the machine's
core count and each part's figures. To add a part, write `def bench_x(args) -> dict` and register it in `BENCHES`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shlex
import sys
import time
from typing import Any, Callable, Sequence

from cola_core.utils.io import atomic_write_json
from jobs._cli import Parser, run_main, setup_logging

log = logging.getLogger("jobs.bench")
BenchFn = Callable[[Any], dict]


def bench_data(args: Any) -> dict:
    """Tokenization (local and Ray Data) and shard-ingest throughput, in tokens/s."""
    from cola_platform.data.bench import bench_data as run

    return run(docs=args.data_docs, seq_len=args.seq_len, vocab_size=args.vocab_size, ray_address=args.ray_address,
               workdir=args.workdir or None)


def bench_train(args: Any) -> dict:
    """Training tokens/s: 1 in-process worker vs 2 Ray Train workers (ZeRO-2) on the same global batch."""
    from cola_platform.training.bench import bench_train as run

    return run(preset=getattr(args, "train_preset", "xs"), steps=getattr(args, "train_steps", 50),
               global_batch=getattr(args, "train_global_batch", 16), seq_len=args.seq_len, vocab_size=args.vocab_size,
               workdir=args.workdir or None)


def bench_sample(args: Any) -> dict:
    """Generated tokens/s of every family's sampler (Cola with and without CFG)."""
    from cola_platform.sampling_bench import bench_sampling

    return bench_sampling(preset=args.sample_preset, vocab_size=args.vocab_size)


def bench_platform(args: Any) -> dict:
    """Fixed cost of a Ray Train run (start, init, checkpoint, export) around a few training steps."""
    from cola_platform.training.bench import bench_platform as run

    return run()


BENCHES: dict[str, BenchFn] = {
    "train": bench_train,
    "sample": bench_sample,
    "data": bench_data,
    "platform": bench_platform,
}


def build_parser() -> Parser:
    p = Parser(prog="jobs.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("part", choices=[*BENCHES, "all"], help="which benchmark to run")
    p.add_argument("--json", required=True, help="where to write the figures")
    p.add_argument("--data-docs", type=int, default=20000, help="data: storyworld documents")
    p.add_argument("--seq-len", type=int, default=128, help="data: sequence length")
    p.add_argument("--vocab-size", type=int, default=4096, help="data: BPE vocabulary")
    p.add_argument("--ray-address", default="auto", help="auto | local | HOST:PORT")
    p.add_argument("--workdir", default="", help="data: keep the generated corpora and shards here")
    p.add_argument("--train-preset", default="xs", help="train: AR preset")
    p.add_argument("--train-steps", type=int, default=50, help="train: optimizer steps per run")
    p.add_argument("--train-global-batch", type=int, default=16, help="train: sequences per optimizer step")
    p.add_argument("--sample-preset", default="xs", help="sample: preset of the three samplers")
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    argv_list = list(argv) if argv is not None else sys.argv[1:]
    report: dict[str, Any] = {
        "command": "python -m jobs.bench " + shlex.join(argv_list),
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "results": {},
    }
    for name in (list(BENCHES) if args.part == "all" else [args.part]):
        start = time.perf_counter()
        report["results"][name] = {**BENCHES[name](args), "bench_seconds": round(time.perf_counter() - start, 1),
                                   "load_average_after": [round(x, 2) for x in os.getloadavg()]}
        atomic_write_json(args.json, report)  # keep what is done if a later part fails
    log.info("wrote %s", args.json)
    print(json.dumps({"json": args.json, "parts": list(report["results"])}))
    return 0


if __name__ == "__main__":
    run_main(main)
