"""Start, inspect and stop the embedded cluster on this machine (Ray head, MLflow server, optional S3).

    python -m jobs.cluster up [--s3]        # start (or report the running one), write .cluster/env
    source .cluster/env                     # RAY_ADDRESS, RAY_AUTH_MODE, MLFLOW_TRACKING_URI (+ AWS_*)
    ray job submit --working-dir . -- python -m jobs.train ...
    python -m jobs.cluster status           # exit 0 when every recorded server answers, 1 otherwise
    python -m jobs.cluster down             # stop exactly what `up` started (by PID)

Everything listens on 127.0.0.1. `--state-dir` (default .cluster) holds state.json (PIDs), the env
file, server logs, the MLflow database and artifacts, so several clusters can coexist.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from cola_platform.cluster import DEFAULT_STATE_DIR, ClusterSpec, ClusterState, down, env_path, status, up
from jobs._cli import Parser, run_main, setup_logging

EXIT_DOWN = 1


def build_parser() -> Parser:
    p = Parser(prog="jobs.cluster", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    defaults = ClusterSpec()
    u = sub.add_parser("up", help="start the cluster and wait until every server answers")
    u.add_argument(
        "--s3", action="store_true", help="also start a local S3 server (moto) and keep MLflow artifacts there"
    )
    u.add_argument("--ray-port", type=int, default=defaults.ray_port, help="Ray GCS port")
    u.add_argument("--dashboard-port", type=int, default=defaults.dashboard_port, help="Ray dashboard / job API port")
    u.add_argument("--mlflow-port", type=int, default=defaults.mlflow_port)
    u.add_argument("--s3-port", type=int, default=defaults.s3_port)
    u.add_argument("--num-cpus", type=int, default=defaults.num_cpus, help="CPUs the Ray head offers")
    u.add_argument("--bucket", default=defaults.bucket, help="bucket created on the S3 server (COLA_S3_BUCKET)")
    u.add_argument("--timeout", type=float, default=defaults.timeout, help="seconds to wait for each server")
    s = sub.add_parser("status", help="report each recorded server: address, pid, healthy")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    sub.add_parser("down", help="stop what `up` started and remove the env file")
    for parser in sub.choices.values():
        parser.add_argument(
            "--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR), help="state directory (default .cluster)"
        )
        parser.add_argument("--verbose", action="store_true")
    return p


def _describe(state: ClusterState) -> list[str]:
    lines = []
    for rec in state.ordered():
        detail = {
            "ray": f"gcs {rec.extra.get('gcs_address', '?')}",
            "s3": f"bucket {rec.extra.get('bucket', '?')}",
            "mlflow": f"artifacts {rec.extra.get('artifacts', '?')}",
        }[rec.name]
        lines.append(f"  {rec.name:<7}{rec.address:<24}pid {rec.pid:<8}{detail}")
    return lines


def cmd_up(args) -> int:
    spec = ClusterSpec(
        state_dir=args.state_dir,
        s3=args.s3,
        ray_port=args.ray_port,
        dashboard_port=args.dashboard_port,
        mlflow_port=args.mlflow_port,
        s3_port=args.s3_port,
        num_cpus=args.num_cpus,
        bucket=args.bucket,
        timeout=args.timeout,
    )
    result = up(spec)
    state = result.state
    print(f"cluster {'already up' if result.already_up else 'up'} (state dir {state.state_dir})")
    print("\n".join(_describe(state)))
    print(
        f"env file: {env_path(state.state_dir)}  (source it, then `ray job submit --working-dir . -- python -m jobs.X ...`)"
    )
    return 0


def cmd_status(args) -> int:
    state, checks = status(args.state_dir)
    healthy = state is not None and state.phase == "up" and all(c.healthy for c in checks)
    if args.json:
        print(
            json.dumps(
                {
                    "state_dir": str(args.state_dir.absolute()),
                    "up": healthy,
                    "phase": state.phase if state else "down",
                    "env_file": str(env_path(args.state_dir.absolute())),
                    "services": [asdict(c) for c in checks],
                },
                indent=2,
            )
        )
    elif state is None:
        print(f"no cluster recorded in {args.state_dir.absolute()} (start one with `python -m jobs.cluster up`)")
    else:
        print(f"cluster in {state.state_dir}: {'up' if healthy else 'NOT healthy'} (phase {state.phase})")
        for c in checks:
            why = (
                ""
                if c.healthy
                else (" (process not running)" if not c.alive else " (process runs but does not answer)")
            )
            print(f"  {c.name:<7}{c.address:<24}pid {c.pid:<8}healthy: {'yes' if c.healthy else 'no' + why}")
    return 0 if healthy else EXIT_DOWN


def cmd_down(args) -> int:
    stopped = down(args.state_dir)
    if not stopped:
        print(f"nothing is up (no cluster recorded in {args.state_dir.absolute()})")
    else:
        print("stopped " + ", ".join(f"{rec.name} (pid {rec.pid})" for rec in reversed(stopped)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return {"up": cmd_up, "status": cmd_status, "down": cmd_down}[args.command](args)


if __name__ == "__main__":
    run_main(main)
