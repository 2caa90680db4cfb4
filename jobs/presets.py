"""Print the matched preset ladder: parameters and training FLOPs per token for every family.

Cola's FLOPs are those of joint Stage-2 training.

    python -m jobs.presets            # a table
    python -m jobs.presets --json     # machine-readable
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from cola_core.config import BackboneConfig, section_as
from cola_core.presets import preset_names, resolve_config
from cola_core.registry import family_names, get_family
from jobs._cli import Parser, run_main


def ladder(vocab_size: int, seq_len: int | None = None) -> list[dict[str, Any]]:
    """One row per (preset, family) with exact counts from the config."""
    rows = []
    for preset in preset_names():
        for family in family_names():
            spec = get_family(family)
            if spec.preset_shape is None:
                continue  # not on the ladder
            over: dict[str, Any] = {"model.vocab_size": vocab_size, **spec.ladder_overrides}  # Cola: joint Stage 2
            if seq_len:
                over["data.seq_len"] = seq_len
            cfg = resolve_config(family, preset, over)
            counts = spec.count_params(cfg.model)
            backbone = section_as(cfg.model, BackboneConfig)  # a family with a preset shape has a backbone
            rows.append(
                {
                    "preset": preset,
                    "family": family,
                    "seq_len": cfg.data.seq_len,
                    "dim": backbone.dim,
                    "n_layers": backbone.n_layers,
                    "ffn_hidden": backbone.backbone_ffn(),
                    "params_total": counts.total,
                    "params_non_embedding": counts.non_embedding,
                    "params_backbone": counts.backbone,
                    "params_vae": counts.vae,
                    "train_flops_per_token": spec.flops_per_token(cfg).train,
                }
            )
    return rows


def _fmt(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="jobs.presets", description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--vocab-size", type=int, default=4096, help="vocabulary to count embeddings with")
    p.add_argument("--seq-len", type=int, default=0, help="sequence length for attention FLOPs (0: each preset's own)")
    args = p.parse_args(argv)
    rows = ladder(args.vocab_size, args.seq_len or None)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'preset':6} {'family':6} {'seq':>5} {'layers':>6} {'dim':>5} {'ffn':>6} {'total':>9} {'non-emb':>9} "
        f"{'backbone':>9} {'vae':>9} {'train FLOPs/tok':>16}"
    )
    for r in rows:
        print(
            f"{r['preset']:6} {r['family']:6} {r['seq_len']:>5} {r['n_layers']:>6} {r['dim']:>5} {r['ffn_hidden']:>6} "
            f"{_fmt(r['params_total']):>9} {_fmt(r['params_non_embedding']):>9} {_fmt(r['params_backbone']):>9} "
            f"{_fmt(r['params_vae']):>9} {_fmt(r['train_flops_per_token']):>16}"
        )
    return 0


if __name__ == "__main__":
    run_main(main)
