"""The options of a data preparation, as flags: `jobs.prepare_data` parses them from its command line, and
a study's `[prepare]` table (keys are the flags) is parsed by the same definitions and prepared in process.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from cola_platform.data.prepare import ENGINES, PrepareConfig
from cola_platform.data.readers import DECODE_MODES
from cola_platform.data.sources import Source
from cola_platform.errors import UserError
from cola_platform.paths import project_path


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    """Every preparation flag (`--source`, `--out`, `--seq-len`, ...) with its default and help."""
    p.add_argument(
        "--source",
        required=True,
        help="storyworld | file:PATH (.txt/.jsonl/.parquet file, directory or glob) | s3://bucket/prefix | hf:NAME[:SPLIT]",
    )
    p.add_argument("--out", required=True, help="output data directory or s3:// prefix")
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary when training a tokenizer")
    p.add_argument("--num-docs", type=int, default=0, help="documents to generate (storyworld) or take (0: all)")
    p.add_argument("--tokenizer", default="", help="existing tokenizer.json to use instead of training one")
    p.add_argument("--text-field", default="text", help="JSONL field / Parquet column holding the text")
    p.add_argument("--val-fraction", type=float, default=0.02, help="share of documents held out for validation")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--shard-rows", type=int, default=8192, help="sequences per Parquet shard (target)")
    size.add_argument(
        "--shard-mb", type=float, default=0.0, help="target shard size in MiB of tokens (instead of --shard-rows)"
    )
    p.add_argument("--seed", type=int, default=0, help="storyworld seed")
    p.add_argument(
        "--qa-share",
        type=float,
        default=None,
        help="storyworld: share of question-and-answer documents (default: the corpus's)",
    )
    p.add_argument(
        "--mc-share",
        type=float,
        default=None,
        help="storyworld: share of multiple-choice documents (default: the corpus's)",
    )
    p.add_argument(
        "--decode-errors",
        choices=DECODE_MODES,
        default="strict",
        help="non-UTF-8 input: strict = fail naming file and byte; replace = substitute U+FFFD and count",
    )
    p.add_argument(
        "--max-doc-mb",
        type=float,
        default=64.0,
        help="memory budget for one document: larger .txt documents are read and tokenized in chunks",
    )
    p.add_argument("--tokenizer-sample-docs", type=int, default=20000, help="documents to train the BPE on")
    p.add_argument("--tokenizer-sample-mb", type=float, default=64.0, help="at most this much sample text")
    p.add_argument("--engine", choices=ENGINES, default="ray", help="ray (Ray Data) or local (in this process)")
    p.add_argument("--ray-address", default="auto", help="auto | local | HOST:PORT (see cola_platform.data.ray_env)")
    p.add_argument("--s3-endpoint", default="", help="S3 endpoint URL (default: AWS_ENDPOINT_URL from the environment)")
    p.add_argument("--progress-seconds", type=float, default=10.0, help="seconds between progress lines")


def config_from_args(args) -> PrepareConfig:
    """Validate flags and build the preparation config (relative paths are the project's, as every job's)."""
    args.out, args.tokenizer = project_path(args.out), project_path(args.tokenizer)
    if args.source.startswith("file:") and not args.source.startswith("file://"):
        args.source = "file:" + project_path(args.source[len("file:") :])
    if args.seq_len < 2 or args.vocab_size < 300 or not 0 <= args.val_fraction < 1:
        raise UserError("need --seq-len >= 2, --vocab-size >= 300 and 0 <= --val-fraction < 1")
    if args.shard_rows < 1 or args.shard_mb < 0 or args.max_doc_mb <= 0 or args.num_docs < 0:
        raise UserError("need --shard-rows >= 1, --shard-mb >= 0, --max-doc-mb > 0 and --num-docs >= 0")
    if args.tokenizer and not os.path.isfile(args.tokenizer):
        raise UserError(f"--tokenizer {args.tokenizer} does not exist")
    if (args.qa_share is not None or args.mc_share is not None) and args.source != "storyworld":
        raise UserError("--qa-share / --mc-share apply to --source storyworld only")
    if args.s3_endpoint:
        os.environ["AWS_ENDPOINT_URL"] = args.s3_endpoint  # for this process, Ray workers and --out
    source = Source(
        args.source,
        num_docs=args.num_docs,
        seed=args.seed,
        text_field=args.text_field,
        decode_errors=args.decode_errors,
        max_doc_bytes=max(1, int(args.max_doc_mb * 2**20)),
        s3_endpoint=args.s3_endpoint,
        qa_share=args.qa_share,
        mc_share=args.mc_share,
    )
    source.corpus_mix()  # bad shares fail here, before anything is written
    return PrepareConfig(
        source=source,
        out=args.out,
        seq_len=args.seq_len,
        vocab_size=args.vocab_size,
        val_fraction=args.val_fraction,
        shard_rows=args.shard_rows,
        shard_mb=args.shard_mb,
        tokenizer_path=args.tokenizer,
        tokenizer_sample_docs=args.tokenizer_sample_docs,
        tokenizer_sample_mb=args.tokenizer_sample_mb,
        engine=args.engine,
        ray_address=args.ray_address,
        progress_seconds=args.progress_seconds,
    )


class _TableParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UserError(f"[prepare] table: {message}")


def config_from_table(out: str, table: dict[str, Any]) -> PrepareConfig:
    """The preparation a study's `[prepare]` table asks for (keys are the flags without `--`) into `out`."""
    parser = _TableParser(prog="[prepare]", add_help=False)
    add_prepare_arguments(parser)
    argv = ["--out", out]
    for key, value in table.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return config_from_args(parser.parse_args(argv))
