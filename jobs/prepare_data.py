"""Tokenize a corpus into packed fixed-length sequences (Parquet shards + manifest.json).

    python -m jobs.prepare_data --source storyworld --num-docs 20000 --seq-len 128 --vocab-size 4096 --out runs/data/sw
    python -m jobs.prepare_data --source file:corpus/ --seq-len 256 --vocab-size 8192 --out runs/data/mine
    python -m jobs.prepare_data --source s3://bucket/texts/ --text-field body --out s3://bucket/data/mine ...
    python -m jobs.prepare_data --source hf:roneneldan/TinyStories:train --seq-len 256 --out runs/data/ts
    python -m jobs.prepare_data --source storyworld --num-docs 5000 --tokenizer runs/data/sw/tokenizer.json ...

Sources: storyworld | file:PATH (a .txt/.jsonl/.parquet file, a directory or a glob) | s3://bucket/prefix
| hf:NAME[:SPLIT] (local Hugging Face cache only). Runs on Ray Data (`--engine ray`, the default:
the running cluster, else a local instance) or in this process (`--engine local`). Writes are
atomic (staging prefix OUT.partial, manifest last); re-running an interrupted command resumes.
Packing is per read unit (about one shard of tokens): the last partial sequence of each unit and
split is dropped and counted in the manifest's `stats.tail_tokens_dropped` (0.013 % of the tokens
for 200k storyworld documents). Prints one JSON summary line on stdout.
"""

from __future__ import annotations

import json
from typing import Sequence

from cola_platform.data.prepare import prepare
from cola_platform.data.prepare_args import add_prepare_arguments, config_from_args
from jobs._cli import Parser, run_main, setup_logging


def build_parser() -> Parser:
    p = Parser(prog="jobs.prepare_data", description=__doc__)
    add_prepare_arguments(p)
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    manifest = prepare(config_from_args(args))
    print(
        json.dumps(
            {
                "out": args.out,
                "num_sequences": manifest.num_sequences,
                "num_tokens": manifest.num_tokens,
                "num_documents": manifest.num_documents,
                "vocab_size": manifest.vocab_size,
                "num_shards": len(manifest.shards),
                "seconds": manifest.stats.get("seconds"),
                "engine": args.engine,
            }
        )
    )
    return 0


if __name__ == "__main__":
    run_main(main)
