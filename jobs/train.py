"""Train one model of any family.

    python -m jobs.train --family ar --preset tiny --data runs/data/sw --steps 100 --out runs/ar-tiny
    python -m jobs.train --family cola --preset tiny --data D --steps 200 --stage 1 --out runs/cola-s1
    python -m jobs.train --family cola --preset tiny --data D --steps 200 --stage 2 --init-from runs/cola-s1
    python -m jobs.train ... --workers 2 --zero 2          # Ray Train workers under DeepSpeed ZeRO-2

Writes RUN_DIR/result.json and RUN_DIR/metrics.jsonl; re-running the same command (same --out or
--name) resumes from the latest checkpoint, and a finished run is not trained again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

from cola_core.config_text import parse_set_args
from cola_core.registry import family_names
from cola_platform.paths import project_path
from jobs._cli import Parser, run_main, setup_logging

log = logging.getLogger("jobs.train")


def build_parser() -> Parser:
    p = Parser(prog="jobs.train", description=__doc__)
    p.add_argument("--family", required=True, choices=family_names(), help="model family")
    p.add_argument("--preset", default="tiny", help="size preset (python -m jobs.presets lists them)")
    p.add_argument("--data", required=True, help="prepared data directory or s3:// prefix")
    p.add_argument("--steps", type=int, help="optimizer steps (default: the config's)")
    p.add_argument("--out", help="run directory (default: runs/<name> or runs/train-<family>-<preset>-<hash>)")
    p.add_argument("--name", default="", help="run name: MLflow run and Ray storage name; same name resumes")
    p.add_argument("--workers", type=int, default=0, help="Ray Train workers (0: train in this process)")
    p.add_argument("--zero", type=int, default=None, help="DeepSpeed ZeRO stage 0-3 (with --workers)")
    p.add_argument("--stage", type=int, choices=(1, 2), help="Cola training stage")
    p.add_argument("--init-from", default="", help="Cola Stage 2: the Stage-1 run directory")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    p.add_argument("--verbose", action="store_true")
    return p


def overrides_from_args(args) -> dict[str, object]:
    """Fold the convenience flags into dotted-key overrides (explicit --set wins)."""
    flags: dict[str, object] = {}
    if args.steps is not None:
        flags["train.steps"] = args.steps
    if args.workers:
        flags["train.workers"] = args.workers
    if args.zero is not None:
        flags["train.zero_stage"] = args.zero
    if args.stage is not None:
        flags["train.stage"] = args.stage
    if args.init_from:
        flags["run.init_from"] = str(Path(args.init_from).absolute())
    if args.name:
        flags["run.name"] = args.name
    return {**flags, **parse_set_args(args.set)}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cola_platform.training.dispatch import train_config
    from cola_platform.training.run_dir import RunDir
    from cola_platform.training.setup import config_for_data

    setup_logging(args.verbose)
    args.data, args.init_from = project_path(args.data), project_path(args.init_from)
    cfg, _ = config_for_data(args.family, args.preset, args.data, overrides_from_args(args))
    default_name = args.name or f"train-{cfg.run.family}-{cfg.run.preset}-{cfg.hash()}"
    cfg.run.name = cfg.run.name or default_name
    out = Path(project_path(args.out or str(Path("runs") / default_name)))
    run = RunDir(out)
    if run.finished():
        log.info("%s already finished; not training again (delete it to retrain)", out)
    result = train_config(cfg, out)
    summary = {
        k: result[k]
        for k in ("family", "preset", "steps", "initial_loss", "final_loss", "eval_loss", "tokens_per_second")
    }
    print(json.dumps(summary))
    print(f"result: {run.result}")
    return 0


if __name__ == "__main__":
    run_main(main)
