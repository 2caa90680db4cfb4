"""The family-agnostic training loop: the function every Ray Train worker calls.

It knows nothing about Ray, DeepSpeed or MLflow: an `Engine` does the maths, a `BatchStream`
supplies token batches, and `LoopHooks` receive metrics and save checkpoints. The in-process job
and the distributed worker differ only in what they plug in.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, TypedDict

import torch

from cola_core.config import Config, ConfigError
from cola_core.registry import FamilySpec
from cola_core.train.engine import Engine
from cola_core.train.schedule import lr_factor
from cola_core.utils.seeding import rng_state, set_rng_state

log = logging.getLogger(__name__)


class BatchStream(Protocol):
    """An endless stream of (micro_batch, seq_len) token batches with a resumable position."""

    def next_batch(self) -> torch.Tensor: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


class DivergedError(ConfigError):
    """The training loss became non-finite. Raised before anything of that step is logged or saved,
    so the last checkpoint stays the last good state and no result claims a finished run."""


@dataclass
class LoopHooks:
    """What the caller plugs into the loop."""

    on_record: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    """Called with every metrics record (train records have `step`, eval records `eval_loss`)."""
    save_checkpoint: Callable[[int, dict[str, Any]], None] | None = None
    """Called with (completed steps, client state) every `ckpt_every` steps and at the end."""
    reduce_metrics: Callable[[dict[str, float]], dict[str, float]] = lambda m: m
    """Averages metrics over data-parallel ranks (identity in-process)."""


class _LoopState(TypedDict):
    """The loop's counters, saved as `loop` in every checkpoint's client state and restored on resume."""

    step: int
    initial_loss: float | None
    recent_losses: list[float]
    tokens_seen: int
    train_seconds: float


@dataclass
class LoopResult:
    """Summary numbers of a finished loop (the bulk of `result.json`)."""

    steps: int
    initial_loss: float
    final_loss: float
    eval: dict[str, float]
    tokens_seen: int
    train_flops: float
    tokens_per_second: float
    train_seconds: float


def mean_dicts(dicts: list[dict[str, float]]) -> dict[str, float]:
    """Key-wise mean of metric dicts with the keys of the first ({} for none)."""
    return {k: sum(d[k] for d in dicts) / len(dicts) for k in dicts[0]} if dicts else {}


@torch.no_grad()
def evaluate(spec: FamilySpec, engine: Engine, cfg: Config, batches: Iterable[torch.Tensor]) -> dict[str, float]:
    """Held-out metrics averaged over `batches`, under a fixed RNG so results are comparable and
    the training RNG stream is untouched (resume stays exact)."""
    module = engine.module
    was_training = module.training
    module.eval()
    results = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed + 12345)
        for tokens in batches:
            if spec.eval_loss is not None:
                results.append(spec.eval_loss(module.model, tokens, cfg))
            else:
                out = module(tokens, 0)
                results.append({"eval_loss": out.loss.item(), **{f"eval_{k}": v for k, v in out.metrics.items()}})
            if spec.diagnostics is not None:
                results[-1].update(spec.diagnostics(module.model, tokens, cfg))
    module.train(was_training)
    return mean_dicts(results)


def run_loop(
    cfg: Config,
    spec: FamilySpec,
    engine: Engine,
    stream: BatchStream,
    eval_batches: Callable[[], Iterable[torch.Tensor]],
    hooks: LoopHooks,
    resume_state: dict[str, Any] | None = None,
    world_size: int = 1,
) -> LoopResult:
    """Train for `cfg.train.steps` optimizer steps, resuming from `resume_state` when given."""
    t = cfg.train
    tokens_per_step = cfg.data.seq_len * t.micro_batch_size * t.grad_accum * world_size
    flops_per_token = spec.flops_per_token(cfg).train
    state: _LoopState = {"step": 0, "initial_loss": None, "recent_losses": [], "tokens_seen": 0, "train_seconds": 0.0}
    if resume_state is not None:
        state.update(resume_state["loop"])
        stream.load_state(resume_state["data"])
        set_rng_state(resume_state["rng"])
        log.info("resuming at step %d", state["step"])
    last_eval: dict[str, float] = {}
    engine.module.train()

    def client_state() -> dict[str, Any]:
        return {"loop": dict(state), "data": stream.state(), "rng": rng_state()}

    while state["step"] < t.steps:
        step = state["step"]
        start = time.perf_counter()
        micro = [engine.forward_backward(stream.next_batch(), step) for _ in range(t.grad_accum)]
        lrs = _group_lrs(cfg, spec, engine.group_names, step)
        grad_norm = engine.step(lrs)
        state["train_seconds"] += time.perf_counter() - start
        metrics = hooks.reduce_metrics(
            {"loss": sum(m.loss.item() for m in micro) / len(micro), **mean_dicts([m.metrics for m in micro])}
        )
        if not math.isfinite(metrics["loss"]):
            raise DivergedError(
                f"the training loss is {metrics['loss']} at step {step + 1}: the run diverged and nothing "
                "of this step was saved; lower optim.lr (or raise optim.warmup_steps) and re-run, which "
                "resumes from the last checkpoint"
            )
        state["step"] = step + 1
        state["tokens_seen"] += tokens_per_step
        if state["initial_loss"] is None:
            state["initial_loss"] = metrics["loss"]
        state["recent_losses"] = (state["recent_losses"] + [metrics["loss"]])[-max(1, min(10, t.steps // 10)) :]
        done = state["step"] == t.steps
        if state["step"] == 1 or state["step"] % max(1, t.log_every) == 0 or done:
            record = {
                "step": state["step"],
                **metrics,
                "grad_norm": grad_norm,
                "lr": max(lrs.values()),
                "tokens": state["tokens_seen"],
                "flops": state["tokens_seen"] * flops_per_token,
                "tokens_per_second": state["tokens_seen"] / max(state["train_seconds"], 1e-9),
            }
            for sink in hooks.on_record:
                sink(record)
        if done or (t.eval_every and state["step"] % t.eval_every == 0):
            last_eval = hooks.reduce_metrics(evaluate(spec, engine, cfg, eval_batches()))
            for sink in hooks.on_record:
                sink({"step": state["step"], **last_eval})
        if hooks.save_checkpoint and (done or (t.ckpt_every and state["step"] % t.ckpt_every == 0)):
            hooks.save_checkpoint(state["step"], client_state())

    if not last_eval:  # resumed at the very end: still report held-out numbers
        last_eval = hooks.reduce_metrics(evaluate(spec, engine, cfg, eval_batches()))
    recent = state["recent_losses"] or [float("nan")]
    return LoopResult(
        steps=state["step"],
        initial_loss=float(state["initial_loss"] if state["initial_loss"] is not None else float("nan")),
        final_loss=sum(recent) / len(recent),
        eval=last_eval,
        tokens_seen=state["tokens_seen"],
        train_flops=state["tokens_seen"] * flops_per_token,
        tokens_per_second=state["tokens_seen"] / max(state["train_seconds"], 1e-9),
        train_seconds=state["train_seconds"],
    )


def _group_lrs(cfg: Config, spec: FamilySpec, names: list[str], step: int) -> dict[str, float]:
    """Learning rate of every named parameter group at `step`."""
    base = cfg.optim.lr * lr_factor(step, cfg.train.steps, cfg.optim)
    return {n: base * (spec.lr_scale(cfg, n, step) if spec.lr_scale else 1.0) for n in names}
