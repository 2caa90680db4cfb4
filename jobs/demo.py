"""`make demo`: the main job on this machine, the way users run it on a cluster.

1. `jobs.cluster up`: a local Ray head (token auth on) and an MLflow server, on loopback;
2. `jobs.prepare_data` (storyworld), submitted with `ray job submit`;
3. `ray job submit -- python -m jobs.scaling --study studies/demo.toml`: Cola vs AR vs LLaDA at three
   compute budgets, every run a 2-worker Ray Train run under DeepSpeed ZeRO-2, evaluated and tracked in MLflow;
4. a sample from each family's largest run, the comparison table, the plot path and the MLflow URL.

Re-running skips whatever already finished. `python -m jobs.cluster down` stops the cluster.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from cola_platform.cluster import ClusterSpec, free_port, port_is_free, read_env_file, up
from cola_platform.errors import UserError
from jobs._cli import Parser, run_main, setup_logging
from sweeps.scaling_plan import load_scaling_study
from sweeps.values import points_of

log = logging.getLogger("jobs.demo")
PROMPT = "Once upon a time, there was a brave fox named"


def start_cluster(state_dir: Path) -> dict[str, str]:
    """`jobs.cluster up` (default ports, or free ones when a default is taken); returns the env file's variables."""
    spec = ClusterSpec(state_dir=state_dir)
    for name in ("ray_port", "dashboard_port", "mlflow_port"):
        if not port_is_free(getattr(spec, name)):
            setattr(spec, name, free_port())
    result = up(spec)
    log.info(
        "cluster %s: Ray %s, MLflow %s",
        "already up" if result.already_up else "up",
        result.state.env["RAY_ADDRESS"],
        result.state.env["MLFLOW_TRACKING_URI"],
    )
    return read_env_file(state_dir / "env")


def submit(env: dict[str, str], *entrypoint: str) -> None:
    """`ray job submit --working-dir . -- <entrypoint>`; stop the demo when the job fails."""
    cmd = [
        str(Path(sys.executable).with_name("ray")),
        "job",
        "submit",
        "--address",
        env["RAY_ADDRESS"],
        "--runtime-env",
        "cluster/runtime_env.yaml",
        "--working-dir",
        ".",
        "--",
        *entrypoint,
    ]
    log.info("$ ray job submit ... -- %s", " ".join(entrypoint))
    if subprocess.run(cmd, env={**os.environ, **env}).returncode != 0:  # the job's logs stream to the terminal
        raise UserError(f"the ray job `{' '.join(entrypoint)}` failed (its log is above)")


def show_samples(points: list[dict]) -> None:
    """Sample from each family's largest-budget run (no Ray needed: the exported model suffices)."""
    for family in dict.fromkeys(p["family"] for p in points):  # the study's families, in its order
        best = max(points_of(points, family), key=lambda p: p["budget"])
        run = best.get("run_dir", "")
        out = subprocess.run(
            [sys.executable, "-m", "jobs.sample", "--run", run, "--prompt", PROMPT, "--max-new-tokens", "40", "--json"],
            capture_output=True,
            text=True,
        )
        text = (
            json.loads(out.stdout)["completion"]
            if out.returncode == 0
            else f"(sampling failed: {out.stderr.strip()[-200:]})"
        )
        print(f"[{family}, {best['budget']:.2g} FLOPs] {PROMPT}{text}")


def print_table(result: dict) -> None:
    """The compute-matched comparison: one row per budget and family."""
    from cola_platform.scaling.runner import TABLE_METRICS

    metrics = [m for m in TABLE_METRICS if any(m in r for r in result["table"])]
    print("\n" + f"{'budget':>9} {'family':6} " + " ".join(f"{m:>18}" for m in metrics))
    for r in result["table"]:
        cells = " ".join(f"{r[m]:>18.4f}" if isinstance(r.get(m), (int, float)) else f"{'':>18}" for m in metrics)
        print(f"{r['budget']:>9.2g} {r['family']:6} {cells}")


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="jobs.demo", description=__doc__)
    p.add_argument("--study", default="studies/demo.toml")
    p.add_argument("--state-dir", default=".cluster")
    args = p.parse_args(argv)
    setup_logging()
    study = load_scaling_study(args.study)
    env = start_cluster(Path(args.state_dir))
    prep = study.prepare
    if not (Path(study.data) / "manifest.json").exists():
        submit(
            env,
            "python",
            "-m",
            "jobs.prepare_data",
            "--source",
            prep["source"],
            "--num-docs",
            str(prep["num_docs"]),
            "--seq-len",
            str(prep["seq_len"]),
            "--vocab-size",
            str(prep["vocab_size"]),
            "--out",
            study.data,
        )
    submit(env, "python", "-m", "jobs.scaling", "--study", args.study)
    out = Path("runs") / "scaling" / study.name
    result = json.loads((out / "result.json").read_text())
    print()
    show_samples(result["points"])
    print_table(result)
    print(f"\nplot:   {out / 'plots' / 'scaling_curves.png'}")
    print(f"report: {out / 'report.md'}")
    print(f"result: {out / 'result.json'}")
    print(f"MLflow: {env['MLFLOW_TRACKING_URI']}/#/experiments (experiment '{study.name}')")
    print("stop the cluster with: python -m jobs.cluster down")
    return 0


if __name__ == "__main__":
    run_main(main)
