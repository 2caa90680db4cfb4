"""`make demo`: the best end-to-end path on this machine.

Prepares a storyworld corpus, trains the matched tiny AR, LLaDA and Cola (Stage 1 then Stage 2)
models, samples from each and prints an eval table comparing the three families.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from jobs._cli import Parser, run_main, setup_logging

log = logging.getLogger("jobs.demo")
PROMPT = "Once upon a time, there was a brave fox named"


def job(*args: str) -> None:
    """Run one job module as a subprocess (exactly what a user would type); stop on failure."""
    cmd = [sys.executable, "-m", *args]
    log.info("$ %s", " ".join(cmd[2:]))
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(f"error: {' '.join(args[:1])} failed")


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="jobs.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--items", type=int, default=40, help="eval items per task")
    args = p.parse_args(argv)
    setup_logging()
    out = Path(args.out)
    data = out / "data"
    if not (data / "manifest.json").exists():
        job("jobs.prepare_data", "--source", "storyworld", "--num-docs", "4000", "--seq-len", "128", "--vocab-size", "1024",
            "--out", str(data), "--engine", "local")
    runs = {"ar": out / "ar", "llada": out / "llada", "cola": out / "cola-stage2"}
    common = ["--preset", "tiny", "--data", str(data), "--steps", str(args.steps)]
    job("jobs.train", "--family", "ar", *common, "--out", str(runs["ar"]))
    job("jobs.train", "--family", "llada", *common, "--out", str(runs["llada"]))
    job("jobs.train", "--family", "cola", *common, "--stage", "1", "--out", str(out / "cola-stage1"))
    job("jobs.train", "--family", "cola", *common, "--stage", "2", "--init-from", str(out / "cola-stage1"), "--out", str(runs["cola"]))
    for family, run in runs.items():
        print(f"\n[{family}] sample:")
        sys.stdout.flush()
        job("jobs.sample", "--run", str(run), "--prompt", PROMPT, "--max-new-tokens", "40")
    rows = []
    for family, run in runs.items():
        job("jobs.eval", "--run", str(run), "--items", str(args.items), "--out", str(run / "eval.json"))
        rows.append(json.loads((run / "eval.json").read_text()))
    print_comparison(rows)
    for family, run in runs.items():
        print(f"result ({family}): {run / 'result.json'}")
    return 0


def print_comparison(rows: list[dict]) -> None:
    """One line per family: task accuracies (± stderr), quality and likelihood."""
    tasks = list(rows[0]["tasks"])
    print("\nfamily  " + "  ".join(f"{t:>16}" for t in tasks) + f"  {'sw-quality valid':>17}  {'distinct-2':>10}  likelihood")
    for r in rows:
        accs = "  ".join(f"{r['tasks'][t]['accuracy']:>8.3f} ± {r['tasks'][t]['stderr']:.3f}" for t in tasks)
        q = r.get("quality") or {}
        lik = r.get("likelihood", {})
        key = next((k for k in ("elbo_nats_per_token", "nll_bound_per_token", "nll_per_token") if k in lik), "eval_loss")
        print(f"{r['family']:6}  {accs}  {q.get('valid', float('nan')):>17.3f}  {q.get('distinct_2', float('nan')):>10.3f}  "
              f"{key}={lik.get(key, float('nan')):.3f}")


if __name__ == "__main__":
    run_main(main)
