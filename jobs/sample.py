"""Generate a continuation from a trained run (any family; no DeepSpeed needed).

python -m jobs.sample --run runs/ar-tiny --prompt "Once upon a time" --max-new-tokens 48
python -m jobs.sample --run runs/cola-s2 --prompt "Mira" --steps 16 --cfg 4 --json
python -m jobs.sample --run runs/cola-s2 --prompt "Mira" --stream     # each block as soon as it is decoded

`--stream` prints the continuation as the sampler commits it (AR: every token; LLaDA: every block;
Cola: every block the decoder realises), then the tokens per second on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Sequence

from cola_core.config import apply_overrides
from cola_core.config_text import parse_set_args
from cola_core.config_checks import validate
from cola_platform.paths import project_path
from jobs._cli import Parser, positive_int, run_main, setup_logging


def build_parser() -> Parser:
    p = Parser(prog="jobs.sample", description=__doc__)
    p.add_argument("--run", required=True, help="finished run directory")
    p.add_argument("--prompt", default="", help="prompt text (empty: unconditional)")
    p.add_argument("--max-new-tokens", type=positive_int, default=48)
    p.add_argument("--steps", type=int, help="Cola ODE steps per block / LLaDA denoising steps")
    p.add_argument("--cfg", type=float, help="classifier-free guidance weight (Cola, LLaDA)")
    p.add_argument("--temperature", type=float, help="0 = greedy")
    p.add_argument("--seed", type=int, help="sampling seed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="sampler.* override, repeatable")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--stream", action="store_true", help="print the continuation as it is decoded")
    return p


def stream_text(chunks: Iterator[list[int]], decode: Callable[[list[int]], str], prompt: str) -> list[int]:
    """Print `prompt`, then the text of each chunk as it arrives (decoded cumulatively, so a character
    split across chunks prints whole); returns every id streamed."""
    ids: list[int] = []
    shown = ""
    print(prompt, end="", flush=True)
    for chunk in chunks:
        ids += chunk
        text = decode(ids)
        print(text[len(shown) :], end="", flush=True)
        shown = text
    print(flush=True)
    return ids


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cola_platform.evaluation import sampler_settings
    from cola_platform.training.export import load_run

    setup_logging()
    loaded = load_run(project_path(args.run))
    overrides = {
        k: v
        for k, v in {
            "sampler.steps": args.steps,
            "sampler.cfg": args.cfg,
            "sampler.temperature": args.temperature,
            "sampler.seed": args.seed,
        }.items()
        if v is not None
    }
    overrides.update(parse_set_args(args.set))
    cfg = validate(apply_overrides(loaded.cfg, overrides))
    sampler = loaded.spec.build_sampler(loaded.model, cfg)
    tok = loaded.tokenizer
    start = time.perf_counter()
    if args.stream:
        ids = stream_text(sampler.stream(tok.encode(args.prompt), args.max_new_tokens), tok.decode, args.prompt)
        seconds = time.perf_counter() - start
        print(f"{len(ids)} tokens in {seconds:.2f} s: {len(ids) / max(seconds, 1e-9):.1f} tokens/s", file=sys.stderr)
        return 0
    ids = sampler.generate([tok.encode(args.prompt)], args.max_new_tokens)[0]
    seconds = time.perf_counter() - start
    text = tok.decode(ids)
    if args.json:
        print(
            json.dumps(
                {
                    "family": cfg.run.family,
                    "prompt": args.prompt,
                    "completion": text,
                    "tokens": len(ids),
                    "seconds": round(seconds, 3),
                    "sampler": sampler_settings(loaded.spec, cfg.sampler),
                }
            )
        )
    else:
        print(f"{args.prompt}{text}")
    return 0


if __name__ == "__main__":
    run_main(main)
