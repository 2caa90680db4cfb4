"""Drills on Ray Train (2 workers, ZeRO-2) through `jobs.train` against the suite's own cluster.

Runs: tiny AR, 120 steps, a checkpoint every 20 steps into RUN_DIR/ray/<name>/step_N; the suite's
MLflow server tracks them in the `fault-suite` experiment. A fault is injected once the run has
passed a checkpoint (a worker or the driver SIGKILLed; the newest checkpoint damaged).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from pathlib import Path

from cola_platform.faults.context import FaultContext, train_cmd
from cola_platform.faults.evidence import (
    EXPERIMENT,
    mlflow_runs,
    one_finished_run,
    read_result,
    steps_once,
)
from cola_platform.faults.inject import flip_middle_byte, ray_train_workers, train_losses, truncate, wait_for_step
from cola_platform.faults.suite import Probe

STEPS, CKPT_EVERY = 120, 20
START_TIMEOUT = 900.0
"""Seconds for a Ray Train run to reach a step (worker group, DeepSpeed and Ray Data start on a loaded machine)."""
_STEP_DIR = re.compile(r"^step_(\d+)$")


def _name(kind: str) -> str:
    return f"fault-{kind}-{uuid.uuid4().hex[:6]}"


def _cmd(ctx: FaultContext, out: Path, name: str) -> list[str]:
    return train_cmd(
        ctx.data, out, STEPS, f"train.ckpt_every={CKPT_EVERY}", f"run.experiment={EXPERIMENT}", workers=2, name=name
    )


def checkpoints(out: Path, name: str) -> list[int]:
    """Steps of the Ray Train checkpoints in the run's default storage RUN_DIR/ray/NAME, ascending."""
    root = out / "ray" / name
    return (
        sorted(int(m.group(1)) for p in root.glob("step_*") if (m := _STEP_DIR.match(p.name))) if root.is_dir() else []
    )


def _run_until(ctx: FaultContext, label: str, out: Path, name: str, step: int, min_checkpoints: int):
    """Start the run in the background; return (process, start time, last step seen) once it passed `step`
    with at least `min_checkpoints` checkpoints in storage."""
    proc = ctx.start_job(label, *_cmd(ctx, out, name), env=ctx.env(cluster=True))
    started = time.perf_counter()
    seen = wait_for_step(
        out / "metrics.jsonl",
        step,
        proc,
        START_TIMEOUT,
        also=lambda: len(checkpoints(out, name)) >= min_checkpoints,
        log=ctx.job_log(label),
    )
    return proc, started, seen


def worker_sigkill(ctx: FaultContext, probe: Probe) -> None:
    """SIGKILL one Ray Train worker process once the run passed its first checkpoint."""
    out, name = ctx.path("worker-kill"), _name("worker")
    proc, started, seen = _run_until(ctx, "worker-kill", out, name, CKPT_EVERY + 5, 1)
    workers = ray_train_workers(ctx.cluster.pids["ray"])
    probe.expect("two Ray Train worker processes found", len(workers) == 2, [w.pid for w in workers])
    victim = workers[-1].pid if workers else None
    if victim:
        os.kill(victim, signal.SIGKILL)
    saved = checkpoints(out, name)
    run = ctx.finish_job("worker-kill", proc, started, timeout=1800)
    result = read_result(out)
    restart_steps = result.get("restart_steps", [])
    probe.record(
        **run.figures(),
        killed_pid=victim,
        killed_after_step=seen,
        checkpoints_at_kill=saved,
        restarts=result.get("restarts"),
        restart_steps=restart_steps,
        steps=result.get("steps"),
    )
    probe.expect("the run finishes (exit 0)", run.exit_code == 0, run.brief())
    probe.expect(
        "the worker group restarts once, from a checkpoint taken before the kill",
        result.get("restarts") == 1 and len(restart_steps) == 1 and restart_steps[0] in saved,
        f"restarts {result.get('restarts')}, from steps {restart_steps} (checkpoints at the kill: {saved})",
    )
    ok, account = steps_once(out, STEPS)
    probe.expect(f"ends at exactly step {STEPS}, every step logged once", ok and result.get("steps") == STEPS, account)
    ok, mlflow = one_finished_run(ctx.cluster.mlflow_uri, name, STEPS)
    probe.expect("one MLflow run, FINISHED, no duplicate steps", ok, mlflow)
    probe.observe(
        f"worker pid {victim} SIGKILLed after step {seen}; restarted {result.get('restarts')}x, from step "
        f"{restart_steps}; {run.brief()}; {account}; {mlflow}"
    )


def _kill_driver(
    ctx: FaultContext, label: str, out: Path, name: str, step: int, min_checkpoints: int
) -> tuple[int, list[int], list[tuple[str, str]]]:
    """Run until `step`, SIGKILL the `jobs.train` driver; (last step seen, checkpoints, its MLflow runs then)."""
    proc, _, seen = _run_until(ctx, label, out, name, step, min_checkpoints)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen, checkpoints(out, name), mlflow_runs(ctx.cluster.mlflow_uri, name)


def driver_sigkill(ctx: FaultContext, probe: Probe) -> None:
    """SIGKILL the `jobs.train` driver after a checkpoint, then re-run the same command."""
    out, name = ctx.path("driver-kill"), _name("driver")
    seen, saved, first_runs = _kill_driver(ctx, "driver-kill", out, name, CKPT_EVERY + 5, 1)
    rerun = ctx.job(*_cmd(ctx, out, name), env=ctx.env(cluster=True), timeout=1800)
    result = read_result(out)
    probe.record(
        killed_after_step=seen,
        checkpoints_at_kill=saved,
        mlflow_runs_after_kill=first_runs,
        **rerun.figures(),
        resumed_from_step=result.get("resumed_from_step"),
        restarts=result.get("restarts"),
        steps=result.get("steps"),
    )
    probe.expect("the re-run finishes (exit 0)", rerun.exit_code == 0, rerun.brief())
    resumed = result.get("resumed_from_step")
    newer = [f"step_{s:08d}" for s in saved if resumed is not None and s > resumed]
    named = [
        ln.split(": ", 1)[-1]
        for ln in rerun.stderr.splitlines()
        if "WARNING" in ln and newer and all(n in ln for n in newer)
    ]
    probe.expect(
        "it resumes from the newest checkpoint Ray Train completed (a newer one, cut short by the kill, "
        "is named as skipped), with no restarts",
        resumed in saved and (not newer or len(named) == 1) and result.get("restarts") == 0,
        f"resumed from {resumed} (checkpoint directories at the kill: {saved}), restarts "
        f"{result.get('restarts')}" + (f"; skipped: `{named[0][:200]}`" if named else ""),
    )
    ok, account = steps_once(out, STEPS)
    probe.expect(f"ends at exactly step {STEPS}, every step logged once", ok and result.get("steps") == STEPS, account)
    ok, mlflow = one_finished_run(ctx.cluster.mlflow_uri, name, STEPS)
    same = [r for r, _ in first_runs] == [r for r, _ in mlflow_runs(ctx.cluster.mlflow_uri, name)]
    probe.expect("the same MLflow run continues and ends FINISHED, no duplicate steps", ok and same, mlflow)
    probe.observe(
        f"driver SIGKILLed at step {seen} (checkpoints {saved}); re-run {rerun.brief()}, resumed from step "
        f"{resumed}" + (f" naming {', '.join(newer)} as skipped" if named else "") + f"; {account}; {mlflow}"
    )


ELASTIC_SETTINGS = ("data.ingest=strided", f"train.ckpt_every={CKPT_EVERY}", f"run.experiment={EXPERIMENT}")
"""Strided ingest takes sequences in manifest order at every worker count, so losses can be compared exactly."""


def elastic_resume(ctx: FaultContext, probe: Probe) -> None:
    """A 2-worker run's driver SIGKILLed after a checkpoint; the same command re-run with `--workers 1`."""
    out = ctx.path("elastic")
    first = train_cmd(ctx.data, out, STEPS, *ELASTIC_SETTINGS, workers=2)  # no --name: its default has train.workers
    proc = ctx.start_job("elastic", *first, env=ctx.env(cluster=True))
    seen = wait_for_step(out / "metrics.jsonl", CKPT_EVERY + 5, proc, START_TIMEOUT, log=ctx.job_log("elastic"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    name = json.loads((out / "config.json").read_text())["run"]["name"] if (out / "config.json").is_file() else ""
    saved = checkpoints(out, name)
    one = [arg if arg != "2" or first[i - 1] != "--workers" else "1" for i, arg in enumerate(first)]
    rerun = ctx.job(*one, env=ctx.env(cluster=True), timeout=1800)
    result = read_result(out)
    reference = ctx.path("elastic-reference")  # uninterrupted, in process, on the same global batches
    ctx.job(*train_cmd(ctx.data, reference, STEPS, *ELASTIC_SETTINGS, "train.grad_accum=2"), timeout=1800)
    losses, expected = train_losses(out / "metrics.jsonl"), train_losses(reference / "metrics.jsonl")
    worst = max((abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses, expected)), default=float("inf"))
    probe.record(
        **rerun.figures(),
        killed_after_step=seen,
        checkpoints_at_kill=saved,
        resumed_from_step=result.get("resumed_from_step"),
        world_size=result.get("world_size"),
        max_relative_loss_difference=worst,
    )
    probe.expect("the re-run at 1 worker finishes (exit 0)", rerun.exit_code == 0, rerun.brief())
    probe.expect(
        "it continues the same run from its newest checkpoint, at 1 worker with twice the accumulation",
        result.get("resumed_from_step") in saved
        and result.get("world_size") == 1
        and "grad_accum 1 -> 2" in rerun.stderr,
        f"resumed from {result.get('resumed_from_step')} (checkpoints at the kill: {saved}), world size "
        f"{result.get('world_size')}",
    )
    ok, account = steps_once(out, STEPS)
    probe.expect(f"ends at exactly step {STEPS}, every step logged once", ok and result.get("steps") == STEPS, account)
    probe.expect(
        "every step's loss equals an uninterrupted in-process run on the same global batches (relative 1e-4)",
        len(losses) == len(expected) == STEPS and worst <= 1e-4,
        f"largest relative difference {worst:.1e} over {len(losses)} steps",
    )
    ok, mlflow = one_finished_run(ctx.cluster.mlflow_uri, name, STEPS)
    probe.expect("one MLflow run, FINISHED, no duplicate steps", ok, mlflow)
    probe.observe(
        f"driver SIGKILLed at step {seen} (checkpoints {saved}); re-run with --workers 1: {rerun.brief()}, resumed "
        f"from step {result.get('resumed_from_step')}; {account}; losses vs uninterrupted: largest relative "
        f"difference {worst:.1e}; {mlflow}"
    )


def ray_checkpoint_corrupt(ctx: FaultContext, probe: Probe) -> None:
    """Driver SIGKILLed after two checkpoints; the newest one's `mp_rank_00_model_states.pt` truncated; re-run."""
    out, name = ctx.path("ray-ckpt-corrupt"), _name("ckpt")
    _, saved, _ = _kill_driver(ctx, "ray-ckpt-corrupt", out, name, 2 * CKPT_EVERY + 5, 2)
    states = {s: sorted((out / "ray" / name / f"step_{s:08d}").rglob("mp_rank_00_model_states.pt")) for s in saved}
    complete = [s for s in saved if states[s]]  # a checkpoint the kill cut short may hold no model states yet
    probe.expect("two checkpoints with model states at the kill", len(complete) >= 2, f"checkpoints {saved}")
    damaged, previous = (complete[-1], complete[-2]) if len(complete) >= 2 else (None, None)
    sizes = truncate(states[damaged][0]) if damaged else (0, 0)
    rerun = ctx.job(*_cmd(ctx, out, name), env=ctx.env(cluster=True), timeout=1800)
    result = read_result(out)
    naming = [
        ln.split(": ", 1)[-1]
        for ln in rerun.stderr.splitlines()
        if "WARNING" in ln and damaged and f"step_{damaged:08d}" in ln
    ]
    probe.record(
        **rerun.figures(),
        checkpoints=saved,
        truncated=str(states[damaged][0]) if damaged else "",
        sizes=sizes,
        resumed_from_step=result.get("resumed_from_step"),
        restarts=result.get("restarts"),
        warnings=naming,
    )
    probe.expect("the re-run finishes (exit 0)", rerun.exit_code == 0, rerun.brief())
    probe.expect(
        "it resumes from the previous valid checkpoint, without restarts",
        result.get("resumed_from_step") == previous and result.get("restarts") == 0,
        f"resumed from {result.get('resumed_from_step')} (expected {previous}), restarts {result.get('restarts')}",
    )
    probe.expect("one warning line names the skipped checkpoint", len(naming) == 1, naming or "no warning names it")
    ok, account = steps_once(out, STEPS)
    probe.expect(f"ends at exactly step {STEPS}, every step logged once", ok and result.get("steps") == STEPS, account)
    probe.observe(
        f"step_{damaged or 0:08d}/mp_rank_00_model_states.pt cut {sizes[0]} -> {sizes[1]} bytes; re-run "
        f"{rerun.brief()}, resumed from step {result.get('resumed_from_step')}; warning "
        f"`{naming[0][:240] if naming else 'none'}`; {account}"
    )


def ray_shard_corrupt(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.train --workers 2` on data whose last train shard has one byte flipped (read mid-training)."""
    from cola_platform.data.manifest import read_manifest

    data, out = ctx.data_copy("data-bad-shard-ray"), ctx.path("ray-bad-shard")
    manifest = read_manifest(str(data))
    shard = data / manifest.split_shards("train")[-1].path
    flip_middle_byte(shard)
    steps = manifest.split_rows("train") // (2 * 4) + 2  # more than one epoch of both ranks
    run = ctx.job(
        *train_cmd(data, out, steps, "train.ckpt_every=0", workers=2, name=_name("shard")),
        env=ctx.env(cluster=True),
        timeout=1800,
    )
    starts = run.stderr.count("Setting up process group for: env:// [rank=0")
    tracebacks = run.stderr.count("Traceback (most recent call last)")
    probe.record(**run.figures(), worker_group_starts=starts, tracebacks_in_output=tracebacks)
    probe.expect(
        "exit 2 with one error line naming the shard's checksum mismatch (no retry advice)",
        run.exit_code == 2
        and len(run.error_lines) == 1
        and shard.name in run.error_line
        and "does not match its manifest checksum" in run.error_line
        and "re-run the same command" not in run.error_line,
        run.brief(),
    )
    probe.expect(
        "no traceback in the job's output",
        not tracebacks,
        f"{tracebacks} traceback(s) forwarded from Ray workers in {len(run.stderr.splitlines())} stderr lines",
    )
    probe.expect(
        "no result.json",
        not (out / "result.json").exists(),
        "none" if not (out / "result.json").exists() else "result.json written",
    )
    probe.observe(f"{run.brief()}; worker group started {starts}x; {tracebacks} worker traceback(s) in the output")


def infeasible_workers(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.train --workers 3` against the suite's 2-CPU cluster."""
    out = ctx.path("too-many-workers")
    run = ctx.job(*train_cmd(ctx.data, out, 2, workers=3), env=ctx.env(cluster=True), timeout=600)
    probe.record(**run.figures())
    probe.expect(
        "one error line, exit 2, instead of waiting", run.one_line_error("do not fit the Ray cluster"), run.brief()
    )
    probe.expect("nothing written", not out.exists(), "run directory left" if out.exists() else "no run directory")
    probe.observe(run.brief())
