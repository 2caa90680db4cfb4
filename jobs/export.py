"""Export a trained run for use outside this project (safetensors + JSON; needs no transformers).

    python -m jobs.export --run runs/ar-tiny --format llama --out exports/ar-tiny-hf
    python -m jobs.export --run runs/llada-tiny --format llama --out exports/llada-tiny-hf
    python -m jobs.export --run runs/cola-s2 --format cola --out exports/cola-s2

Formats (each family lists its own; an unsupported pair is refused):
  llama  AR and LLaDA: a Hugging Face LlamaForCausalLM checkpoint (config.json, model.safetensors,
         generation_config.json for AR) that transformers loads as is:
             AutoModelForCausalLM.from_pretrained(DIR); AutoTokenizer.from_pretrained(DIR)
         LLaDA is a bidirectional mask predictor: its config.json says so (`bidirectional`, `note`,
         `mask_token_id`); run it with a 4-D all-zero attention_mask (batch, 1, T, T), not causally.
  cola   Cola: vae.safetensors, dit.safetensors (Stage 2) and the run's config.json, read back by
         cola_platform.export.load_export.

Every export also holds tokenizer.json, tokenizer_config.json and result.json (family, format, source
run). --out must not exist or be empty; the directory appears only once it is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from cola_core.registry import export_format_names
from cola_platform.paths import project_path
from jobs._cli import Parser, run_main, setup_logging


def build_parser() -> Parser:
    p = Parser(prog="jobs.export", description=__doc__)
    p.add_argument("--run", required=True, help="finished run directory (python -m jobs.train wrote it)")
    p.add_argument("--format", required=True, choices=export_format_names(), help="export format")
    p.add_argument("--out", help="export directory, new or empty (default: runs/export-<run name>-<format>)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cola_platform.export import check_out_dir, write_export
    from cola_platform.training.export import load_run

    setup_logging()
    run_dir = Path(project_path(args.run))
    out = Path(project_path(args.out or f"runs/export-{run_dir.name}-{args.format}"))
    check_out_dir(out)  # before loading the weights
    loaded = load_run(run_dir)
    write_export(loaded.model, loaded.cfg, loaded.tokenizer, args.format, out, source=str(run_dir))
    print(out)
    return 0


if __name__ == "__main__":
    run_main(main)
