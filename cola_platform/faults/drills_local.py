"""Drills that need no cluster: damaged checkpoints and divergence in process, bad input through the CLIs."""

from __future__ import annotations

import json
import logging
import time

from cola_platform.cluster.net import free_port, wait_until
from cola_platform.cluster.services import S3_CREDENTIALS
from cola_platform.faults.context import TINY_SETTINGS, FaultContext, train_cmd
from cola_platform.faults.evidence import read_result, steps_once
from cola_platform.faults.inject import (
    Interrupt,
    captured_logs,
    flip_middle_byte,
    overwrite_middle,
    stop_at,
    train_steps,
)
from cola_platform.faults.suite import Probe


def _tiny_config(ctx: FaultContext, **overrides: object):
    from cola_platform.training.setup import config_for_data

    return config_for_data("ar", "tiny", str(ctx.data), {**TINY_SETTINGS, **overrides})


def checkpoint_corrupt(ctx: FaultContext, probe: Probe) -> None:
    """In process: stop at step 8 (checkpoints 3, 6), zero 4 KB of step_6's weights, resume."""
    from cola_core.train.loop import LoopHooks
    from cola_platform.training.local import train_in_process

    out, steps = ctx.path("checkpoint-corrupt"), 12
    with ctx.in_process():
        cfg, manifest = _tiny_config(ctx, **{"train.steps": steps, "train.ckpt_every": 3})
        try:
            train_in_process(cfg, out, manifest, LoopHooks(on_record=[stop_at(8)]))
        except Interrupt:
            pass
        saved = sorted(p.name for p in (out / "checkpoints").iterdir())
        probe.expect("the stopped run left checkpoints step_3 and step_6", saved == ["step_3", "step_6"], saved)
        overwrite_middle(out / "checkpoints" / "step_6" / "model.safetensors", 4096)
        cfg, manifest = _tiny_config(ctx, **{"train.steps": steps, "train.ckpt_every": 3})
        with captured_logs("cola_platform", logging.WARNING) as warnings:
            result = train_in_process(cfg, out, manifest)
    named = [w for w in warnings if "step_6" in w]
    probe.record(resumed_from_step=result.get("resumed_from_step"), warnings=warnings, steps=result.get("steps"))
    probe.expect(
        "resumes from the previous valid checkpoint, step 3",
        result.get("resumed_from_step") == 3,
        f"resumed from step {result.get('resumed_from_step')}",
    )
    probe.expect("one warning line names the skipped checkpoint", len(named) == 1 and "\n" not in named[0], named)
    ok, account = steps_once(out, steps)
    probe.expect(f"finishes at step {steps}, every step logged once", ok and result.get("steps") == steps, account)
    probe.observe(
        f"resumed from step {result.get('resumed_from_step')}, warning `{named[0] if named else ''}`; {account}"
    )


def diverged_loss(ctx: FaultContext, probe: Probe) -> None:
    """In process: learning rate 1e30 without clipping, a checkpoint every step."""
    from cola_core.train.loop import DivergedError
    from cola_platform.training.local import train_in_process

    out = ctx.path("diverged")
    start, message = time.perf_counter(), ""
    with ctx.in_process():
        cfg, manifest = _tiny_config(
            ctx,
            **{
                "train.steps": 12,
                "train.ckpt_every": 1,
                "optim.lr": 1e30,
                "optim.warmup_steps": 0,
                "optim.grad_clip": 0.0,
            },
        )
        try:
            train_in_process(cfg, out, manifest)
        except DivergedError as err:
            message = str(err)
    seconds = round(time.perf_counter() - start, 2)
    good = train_steps(out / "metrics.jsonl")
    saved = sorted(int(p.name.split("_")[1]) for p in (out / "checkpoints").glob("step_*"))
    probe.record(error=message, seconds=seconds, last_good_step=max(good, default=0), checkpoints=saved)
    probe.expect(
        "stops with one DivergedError line naming the step",
        "the run diverged" in message and len(message.splitlines()) == 1,
        message or "no DivergedError",
    )
    probe.expect(
        "no result.json",
        not (out / "result.json").exists(),
        "result.json written" if (out / "result.json").exists() else "none",
    )
    probe.expect(
        "the last checkpoint is the last good step",
        bool(saved) and saved[-1] == len(good),
        f"last checkpoint {saved[-1] if saved else None}, last logged step {len(good)}",
    )
    probe.observe(
        f"in {seconds:.1f} s: `{message}`; last checkpoint step {saved[-1] if saved else None}, no result.json"
    )


def run_lock(ctx: FaultContext, probe: Probe) -> None:
    """A second `jobs.train` into the run directory of a running one; then the holder is SIGKILLed."""
    from cola_platform.errors import UserError
    from cola_platform.training.run_lock import RunLock

    out = ctx.path("locked")
    cmd = train_cmd(ctx.data, out, 1_000_000, "train.ckpt_every=0")
    first = ctx.start_job("lock-holder", *cmd)
    try:
        wait_until(
            lambda: (out / "metrics.jsonl").exists(),
            900,
            what="the first run's first step",
            abort=lambda: None if first.poll() is None else f"the first run exited ({first.returncode})",
        )
        second = ctx.job(*cmd, timeout=600)
        holder_alive = first.poll() is None
    finally:
        first.kill()
        first.wait()
    try:
        with RunLock(out):
            taken = "the lock was free"
    except UserError as err:
        taken = str(err)
    probe.record(**second.figures(), holder_pid=first.pid)
    probe.expect(
        "the second run exits non-zero with one line naming the holder",
        second.one_line_error(f"in use by pid {first.pid} on "),
        second.brief(),
    )
    probe.expect(
        "it does not wait for the holder (the holder still runs when it exits)",
        holder_alive,
        "holder running" if holder_alive else "holder had exited",
    )
    probe.expect("the lock of the SIGKILLed holder is free at once", taken == "the lock was free", taken)
    probe.observe(f"second run: {second.brief()}; after SIGKILL of the holder: {taken}")


def tokenizer_mismatch(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.train` on data whose tokenizer.json is not the one its manifest was prepared with."""
    data, out = ctx.data_copy("data-other-tokenizer"), ctx.path("tokenizer-run")
    manifest = json.loads((data / "manifest.json").read_text())
    tok = json.loads((data / manifest["tokenizer"]).read_text())
    tok["model"]["vocab"]["zzz-not-a-token"] = max(tok["model"]["vocab"].values()) + 1
    (data / manifest["tokenizer"]).write_text(json.dumps(tok))
    run = ctx.job(*train_cmd(data, out, 2))
    probe.record(**run.figures())
    probe.expect(
        "one error line, exit 2", run.one_line_error("is not the tokenizer its manifest was prepared with"), run.brief()
    )
    probe.expect("nothing written", not out.exists(), "run directory left" if out.exists() else "no run directory")
    probe.observe(run.brief())


def shard_corrupt(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.train` (in process) on data with one byte of a shard flipped."""
    from cola_platform.data.manifest import read_manifest

    data, out = ctx.data_copy("data-bad-shard"), ctx.path("bad-shard-run")
    shard = data / read_manifest(str(data)).split_shards("train")[0].path
    flip_middle_byte(shard)
    run = ctx.job(*train_cmd(data, out, 2))
    probe.record(**run.figures())
    probe.expect(
        "one error line naming the shard, exit 2",
        run.one_line_error("does not match its manifest checksum") and shard.name in run.error_line,
        run.brief(),
    )
    probe.expect("nothing written", not out.exists(), "run directory left" if out.exists() else "no run directory")
    probe.observe(run.brief())


def negative_max_new_tokens(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.sample --max-new-tokens -1`."""
    run = ctx.job("jobs.sample", "--run", str(ctx.path("no-run")), "--prompt", "x", "--max-new-tokens", "-1")
    probe.record(**run.figures())
    probe.expect(
        "one error line naming the flag, exit 2",
        run.one_line_error("must be >= 1") and "--max-new-tokens" in run.error_line,
        run.brief(),
    )
    probe.observe(run.brief())


def s3_down(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.prepare_data` from an s3:// source whose endpoint nothing listens on."""
    dead, out = f"http://127.0.0.1:{free_port()}", ctx.path("from-dead-s3")
    run = ctx.job(
        "jobs.prepare_data",
        "--source",
        "s3://nobucket/in",
        "--out",
        str(out),
        "--seq-len",
        "16",
        "--s3-endpoint",
        dead,
        env=ctx.env(cluster=False, **S3_CREDENTIALS),
        timeout=300,
    )
    probe.record(**run.figures())
    probe.expect(
        "one error line naming the endpoint, exit 2",
        run.one_line_error("cannot reach") and dead in run.error_line,
        run.brief(),
    )
    probe.expect("within 60 s (interpreter start included)", run.seconds < 60, f"{run.seconds:.1f} s")
    probe.expect("nothing written", not out.exists(), "output left" if out.exists() else "no output")
    probe.observe(run.brief())


def mlflow_down(ctx: FaultContext, probe: Probe) -> None:
    """`jobs.train` with a tracking URI nothing listens on."""
    dead, out, steps = f"http://127.0.0.1:{free_port()}", ctx.path("no-mlflow"), 4
    run = ctx.job(*train_cmd(ctx.data, out, steps, f"run.tracking_uri={dead}"))
    warnings = [ln for ln in run.stderr.splitlines() if " WARNING " in ln and "MLflow" in ln]
    result = read_result(out)
    probe.record(exit_code=run.exit_code, warnings=warnings, seconds=run.seconds, steps=result.get("steps"))
    probe.expect(
        "training finishes (exit 0, result.json)", run.exit_code == 0 and result.get("steps") == steps, run.brief()
    )
    probe.expect(
        "exactly one warning line says MLflow is unreachable",
        len(warnings) == 1 and "unreachable" in warnings[0],
        warnings,
    )
    ok, account = steps_once(out, steps)
    probe.expect("metrics.jsonl still has every step", ok, account)
    warning = warnings[0].split(": ", 1)[-1] if warnings else ""
    probe.observe(f"exit {run.exit_code} in {run.seconds:.1f} s, {account}; warning `{warning[:160]}`")
