"""Evaluating a finished run: generative tasks, storyworld quality and likelihoods, side by side."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cola_core.config import ConfigError, SamplerConfig, apply_overrides
from cola_core.data.storyworld.tasks import TASK_BUILDERS
from cola_core.eval.generate import make_generate_fn, make_remainders_fn, make_truncation_counter
from cola_core.eval.generations import check_writable, write_generations
from cola_core.eval.harness import TaskResult, check_items, run_task
from cola_core.eval.quality import run_quality
from cola_core.eval.ranked import make_loglik_fn, run_ranked_task
from cola_core.eval.scorers import OFFICIAL_TASKS
from cola_core.eval.continuation import run_continuation
from cola_core.eval.tasks import (
    BUILTIN_TASKS,
    CONTINUATION_TASK,
    KNOWN_TASKS,
    QUALITY_TASK,
    TaskItem,
    item_from_record,
    load_jsonl_tasks,
)
from cola_core.registry import FamilySpec
from cola_core.train.loop import mean_dicts
from cola_platform.errors import UserError
from cola_platform.training.export import LoadedRun

log = logging.getLogger(__name__)


@dataclass
class EvalRequest:
    """What to evaluate."""

    tasks: list[str] = field(default_factory=lambda: list(BUILTIN_TASKS))
    task_files: list[str] = field(default_factory=list)
    items: int = 1000
    max_new_tokens: int = 32
    k_shot: int | None = None
    seed: int = 0
    likelihood_batches: int = 4
    quality_temperature: float = 1.0
    """Sampling temperature of the sw-quality samples (the tasks decode greedily): quality is a
    property of the model's distribution, and greedy decoding would make every unconditional
    sample the same story."""
    mc_num: int = 32
    """Monte Carlo samples per choice of a likelihood-ranked task where the family estimates (LLaDA)."""
    generations_dir: str | None = None
    """Where every generation is written in the official layout (`<task>.jsonl`, read by
    `jobs.score`); None writes none."""


def builtin_items(name: str, n: int, seed: int) -> list[TaskItem]:
    """Storyworld task items from held-out plans."""
    records = TASK_BUILDERS[name](n, seed)
    return [item_from_record(r, r["type"], i, name) for i, r in enumerate(records)]


def paper_task_files(directory: str | Path) -> list[str]:
    """The paper's eight task files `<task>.jsonl` in `directory`, in the order of its table."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"--paper-tasks {d} is not a directory (expected one holding the paper's eight <task>.jsonl)")
    missing = [t for t in OFFICIAL_TASKS if not (d / f"{t}.jsonl").is_file()]
    if missing:
        raise ConfigError(
            f"--paper-tasks {d} lacks {', '.join(f'{t}.jsonl' for t in missing)} "
            f"(expected the eight files {', '.join(OFFICIAL_TASKS)})"
        )
    return [str(d / f"{t}.jsonl") for t in OFFICIAL_TASKS]


def check_tasks(req: EvalRequest) -> None:
    """Unknown task names are an error before any generation starts."""
    unknown = [t for t in req.tasks if t not in KNOWN_TASKS]
    if unknown:
        raise ConfigError(
            f"unknown task(s) {', '.join(unknown)}: built-in tasks are {', '.join(KNOWN_TASKS)}; "
            "use --tasks-file for your own JSONL"
        )
    if req.items < 1:
        raise ConfigError("--items must be >= 1")
    if req.quality_temperature < 0:
        raise ConfigError("--quality-temperature must be >= 0")


def objective_eval_loss(objective: Any) -> Any:
    """`FamilySpec.eval_loss` of a family that declares none: its training objective, as `eval_loss`."""

    def eval_loss(model: Any, tokens: torch.Tensor, cfg: Any) -> dict[str, float]:
        return {"eval_loss": float(objective(model, tokens, 0).loss)}

    return eval_loss


def validation_split(cfg: Any, what: str) -> Any:
    """The run's validation sequences (N, L) as a numpy array, or None (warning that `what` is skipped)."""
    from cola_platform.data.manifest import read_manifest
    from cola_platform.data.shards import read_split

    try:
        return read_split(cfg.data.path, read_manifest(cfg.data.path), "validation")
    except UserError as err:
        log.warning("%s skipped: %s", what, err)
        return None


def heldout_continuation(loaded: LoadedRun, items: int, seed: int) -> dict[str, Any] | None:
    """The `continuation` task on the first `items` validation sequences (None without a validation split)."""
    val = validation_split(loaded.cfg, "the continuation task")
    if val is None:
        return None
    sampler = loaded.spec.build_sampler(loaded.model, loaded.cfg)
    sequences = [row.tolist() for row in val[:items]]
    log.info("task %s (%d sequences)", CONTINUATION_TASK, len(sequences))
    return run_continuation(sampler.generate, sequences, loaded.cfg.model.tokens_per_position(), seed)


def heldout_metrics(loaded: LoadedRun, batches: int) -> tuple[dict[str, float], dict[str, float]]:
    """(likelihood, diagnostics) averaged over `batches` validation batches of the run's data: the
    family's NLL / ELBO / bound, and its readable diagnostics (FamilySpec.eval_loss / .diagnostics)."""
    from cola_platform.data.array_stream import fixed_batches

    cfg, spec = loaded.cfg, loaded.spec
    val = validation_split(cfg, "likelihood and diagnostics")
    if val is None:
        return {}, {}
    likelihood, diagnostics = [], []
    held_out = spec.eval_loss or objective_eval_loss(spec.build_objective(cfg))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed + 12345)
        for tokens in fixed_batches(val, cfg.train.micro_batch_size, batches):
            likelihood.append(held_out(loaded.model, tokens, cfg))
            diagnostics.append(spec.diagnostics(loaded.model, tokens, cfg) if spec.diagnostics else {})
    return mean_dicts(likelihood), mean_dicts(diagnostics)


def evaluate_run(loaded: LoadedRun, req: EvalRequest) -> dict[str, Any]:
    """Run every requested task, the quality check and the likelihoods; returns the eval record."""
    check_tasks(req)
    files = {Path(f).stem: load_jsonl_tasks(f) for f in req.task_files}
    for path in req.task_files:
        check_items(Path(path).stem, files[Path(path).stem], path)
    if req.generations_dir:
        check_writable(req.generations_dir)
    generate = make_generate_fn(loaded.spec, loaded.model, loaded.cfg, loaded.tokenizer)
    remainders = make_remainders_fn(loaded.cfg, loaded.tokenizer, req.max_new_tokens)
    truncated = make_truncation_counter(loaded.cfg, loaded.tokenizer, req.max_new_tokens)
    count = lambda text: len(loaded.tokenizer.encode(text))  # noqa: E731
    start = time.perf_counter()
    named = [
        (name, builtin_items(name, req.items, req.seed))
        for name in req.tasks
        if name not in (QUALITY_TASK, CONTINUATION_TASK)
    ]
    named += list(files.items())
    for name, items in named:
        if len({item.type == "ranked" for item in items}) > 1:
            raise ConfigError(f"task {name} mixes likelihood-ranked and generative items: put them in separate files")
    ranked = [(name, items) for name, items in named if items[0].type == "ranked"]
    done: dict[str, TaskResult] = {}
    skipped: dict[str, str] = {}
    for name, items in [(name, items) for name, items in named if items[0].type != "ranked"]:
        log.info("task %s (%d items)", name, len(items))
        done[name] = run_task(
            name,
            items,
            generate,
            req.max_new_tokens,
            req.k_shot,
            req.seed,
            count,
            remainders=remainders,
            truncated=truncated,
        )
    generated_tasks = list(done)
    if ranked and loaded.spec.score_tokens is None:
        reason = f"family {loaded.spec.name!r} has no token log-likelihood to rank choices with"
        log.warning("skipping likelihood-ranked task(s) %s: %s", ", ".join(n for n, _ in ranked), reason)
        skipped = {name: reason for name, _ in ranked}
    elif ranked:
        loglik = make_loglik_fn(loaded.spec, loaded.model, loaded.cfg, loaded.tokenizer, req.mc_num)
        for name, items in ranked:
            log.info("task %s (%d items, likelihood-ranked)", name, len(items))
            done[name] = run_ranked_task(name, items, loglik, req.seed)
    results: dict[str, Any] = {name: r.to_dict() for name, r in done.items()}
    if req.generations_dir and generated_tasks:
        write_generations(req.generations_dir, {name: done[name].records for name in generated_tasks})
    quality = None
    if QUALITY_TASK in req.tasks:
        sampling = apply_overrides(copy.deepcopy(loaded.cfg), {"sampler.temperature": req.quality_temperature})
        sample = make_generate_fn(loaded.spec, loaded.model, sampling, loaded.tokenizer)
        quality = {
            **run_quality(sample, req.items, max(req.max_new_tokens, 64), req.seed).to_dict(),
            "temperature": req.quality_temperature,
        }
    continuation = heldout_continuation(loaded, req.items, req.seed) if CONTINUATION_TASK in req.tasks else None
    seconds = time.perf_counter() - start
    likelihood, diagnostics = heldout_metrics(loaded, req.likelihood_batches)
    generated = sum(results[name]["generated_tokens"] for name in generated_tasks)
    generating = sum(results[name]["seconds"] for name in generated_tasks)
    accs = [results[name]["accuracy"] for name in generated_tasks]  # the mean is over generative tasks
    s = loaded.cfg.sampler
    return {
        "run": str(loaded.run.root),
        "family": loaded.cfg.run.family,
        "preset": loaded.cfg.run.preset,
        "tasks": results,
        "skipped_tasks": skipped,
        "quality": quality,
        "continuation": continuation,
        "accuracy_mean": sum(accs) / len(accs) if accs else None,
        "likelihood": likelihood,
        "diagnostics": diagnostics,
        "readable_metric": loaded.spec.readable_metric,
        "sampler": sampler_settings(loaded.spec, s),
        "seconds": seconds,
        "tokens_per_second": generated / max(generating, 1e-9),
        "items": req.items,
        "seed": req.seed,
        "max_new_tokens": req.max_new_tokens,
        "patch_size": loaded.cfg.model.tokens_per_position(),
        "generations": str(req.generations_dir) if req.generations_dir and generated_tasks else None,
    }


def sampler_settings(spec: FamilySpec, s: SamplerConfig) -> dict[str, Any]:
    """The sampler knobs that matter for a family (`FamilySpec.sampler_knobs`)."""
    return {k: getattr(s, k) for k in spec.sampler_knobs}


def flat_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The eval record as flat metric names identical across families (for MLflow and result tables)."""
    out: dict[str, float] = {}
    for name, r in record["tasks"].items():
        key = name.replace("-", "_")
        out[f"{key}_acc"], out[f"{key}_acc_stderr"] = r["accuracy"], r["stderr"]
        if r.get("f1") is not None:
            out[f"{key}_f1"] = r["f1"]
        if "truncated_prompts" in r:
            out[f"{key}_truncated_prompts"] = r["truncated_prompts"]
        for rem, s in (r.get("by_remainder") or {}).items():
            out[f"{key}_mod{rem}_acc"] = s["accuracy"]
    if record.get("quality"):
        q = record["quality"]
        out.update(
            {
                f"sw_quality_{k}": q[k]
                for k in (
                    "valid",
                    "valid_stderr",
                    "grammatical",
                    "consistent",
                    "distinct_1",
                    "distinct_2",
                    "distinct_3",
                    "self_bleu",
                )
            }
        )
    if record.get("continuation"):
        c = record["continuation"]
        out["continuation_acc"], out["continuation_acc_stderr"] = c["accuracy"], c["stderr"]
        for rem, s in c["by_remainder"].items():
            out[f"continuation_mod{rem}_acc"], out[f"continuation_mod{rem}_acc_stderr"] = s["accuracy"], s["stderr"]
    if record.get("accuracy_mean") is not None:
        out["accuracy_mean"] = record["accuracy_mean"]
    out.update({f"likelihood_{k}": v for k, v in record.get("likelihood", {}).items()})
    out.update(record.get("diagnostics", {}))
    readable = record.get("readable_metric", "")
    value = out.get(readable, out.get(f"likelihood_{readable}"))
    if value is not None:
        out["readable_metric"] = value
    out["eval_tokens_per_second"] = record["tokens_per_second"]
    return out


LIKELIHOOD_KEYS = ("nll_per_token", "nll_bound_per_token", "elbo_nats_per_token")
"""AR: exact NLL; LLaDA: Monte Carlo bound; Cola: negative-ELBO estimate (all nats per token)."""


def unified_likelihood(likelihood: dict[str, float]) -> float:
    """The family's NLL-type number under one name (nan when the family reported none)."""
    return next((float(likelihood[k]) for k in LIKELIHOOD_KEYS if k in likelihood), float("nan"))
