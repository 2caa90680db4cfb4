"""Tokenize a corpus into packed fixed-length sequences (Parquet shards + manifest.json).

    python -m jobs.prepare_data --source storyworld --num-docs 20000 --seq-len 128 --vocab-size 4096 --out runs/data/sw
    python -m jobs.prepare_data --source file:corpus/ --seq-len 256 --vocab-size 8192 --out runs/data/mine
    python -m jobs.prepare_data --source storyworld --num-docs 5000 --tokenizer runs/data/sw/tokenizer.json ...
"""

from __future__ import annotations

import json
from typing import Sequence

from cola_platform.data.prepare_local import PrepareSpec, prepare_texts
from cola_platform.data.sources import Source
from cola_platform.errors import UserError
from jobs._cli import Parser, run_main, setup_logging


def build_parser() -> Parser:
    p = Parser(prog="jobs.prepare_data", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, help="storyworld | file:PATH (file, directory or glob of .txt/.jsonl)")
    p.add_argument("--out", required=True, help="output data directory")
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary when training a tokenizer")
    p.add_argument("--num-docs", type=int, default=0, help="documents to generate (storyworld) or take (0: all)")
    p.add_argument("--tokenizer", default="", help="existing tokenizer.json to use instead of training one")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text")
    p.add_argument("--val-fraction", type=float, default=0.02)
    p.add_argument("--shard-rows", type=int, default=8192, help="sequences per Parquet shard")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.seq_len < 2 or args.vocab_size < 300 or not 0 <= args.val_fraction < 1 or args.shard_rows < 1:
        raise UserError("need --seq-len >= 2, --vocab-size >= 300, 0 <= --val-fraction < 1 and --shard-rows >= 1")
    source = Source(args.source, num_docs=args.num_docs, seed=args.seed, text_field=args.text_field)
    spec = PrepareSpec(out=args.out, seq_len=args.seq_len, vocab_size=args.vocab_size, source=source.describe(),
                       val_fraction=args.val_fraction, shard_rows=args.shard_rows, tokenizer_path=args.tokenizer)
    manifest = prepare_texts(spec, source.texts())
    print(json.dumps({"out": args.out, "num_sequences": manifest.num_sequences, "num_tokens": manifest.num_tokens,
                      "num_documents": manifest.num_documents, "vocab_size": manifest.vocab_size}))
    return 0


if __name__ == "__main__":
    run_main(main)
