"""Sweep study files: one TOML declares the question, the space, the search and the objective.

    [study]
    name = "rq1_latent_dim_vs_loc_tiny"
    family = "cola"
    preset = "tiny"
    data = "runs/data/storyworld-64"
    steps = 120
    search = "grid"                   # grid | tpe | random
    objective = ["fm_loss_uniform"]   # result keys; several = multi-objective
    mode = ["min"]
    [prepare]                          # optional: how to create `data` if it is missing
    source = "storyworld"
    num_docs = 5000
    seq_len = 64
    vocab_size = 1024
    [overrides]                        # fixed config for every trial
    [space] / [derived] / [constants]  # see sweeps/space.py

Everything is validated before any trial starts: an unknown key, an empty space, an impossible
coupling or a bad value is one `error:` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cola_core.config import Config, ConfigError
from cola_core.config_text import load_toml
from cola_core.presets import resolve_config
from sweeps.space import SearchSpace, parse_space

SEARCHES = ("grid", "tpe", "random")
SCHEDULERS = ("none", "asha")
TIME_ATTRS = ("tokens", "flops")
ANALYSES = ("", "rq1", "compare", "rate_distortion")
TOP_LEVEL = ("study", "overrides", "space", "derived", "constants", "prepare")


@dataclass
class SweepStudy:
    """The [study] table, typed."""

    name: str
    family: str
    data: str
    steps: int = 0
    """Optimizer steps of every trial (0 only for evaluation-only studies with `checkpoint`)."""
    preset: str = "tiny"
    search: str = "tpe"
    num_samples: int = 0
    """Trials for tpe/random (default 8); repeats of the full grid for grid (default 1: trials are
    deterministic, so a repeat only pays off with a seed in the space)."""
    objective: list[str] = field(default_factory=lambda: ["eval_loss"])
    mode: list[str] = field(default_factory=lambda: ["min"])
    scheduler: str = "none"
    time_attr: str = "tokens"
    grace_fraction: float = 0.25
    """ASHA: the first rung, as a fraction of a full trial's `time_attr` budget."""
    reduction_factor: int = 2
    workers_per_trial: int = 1
    """Ray Train workers per trial (0: the trial trains in its own process)."""
    max_concurrent: int = 0
    """0: derived from cluster CPUs and workers per trial."""
    max_failures: int = 1
    """Retries of a failed trial before it is recorded as failed."""
    stage1_steps: int = 0
    """Cola Stage-2 sweeps: steps of the shared Stage-1 VAE per distinct VAE config (0: not Cola Stage 2)."""
    eval_tasks: list[str] = field(default_factory=list)
    """Generative tasks run at the end of every trial (their accuracies become result keys)."""
    eval_items: int = 50
    analysis: str = ""
    """`rq1`: best noise loc per latent dim and its drift; `compare`: a ranked table by a group key;
    `rate_distortion`: D(R) and the total bits per token over the VAE setting in `group_by`."""
    group_by: str = ""
    """`compare`: the parameter whose values are compared (e.g. train.latent_evolution); `rate_distortion`: the
    swept VAE setting (objective.beta_kl or model.vae_logsnr)."""
    checkpoint: str = ""
    """Evaluation-only study: the finished run every trial evaluates (sampler.* spaces, no training)."""
    seed: int = 0
    description: str = ""
    space: SearchSpace = field(default_factory=SearchSpace)
    overrides: dict[str, Any] = field(default_factory=dict)
    prepare: dict[str, Any] = field(default_factory=dict)
    """How to create `data` when it does not exist yet (jobs.prepare_data flags)."""
    path: str = ""

    def base_config(self, data_overrides: dict[str, Any] | None = None) -> Config:
        """Preset + data-derived fields + fixed overrides."""
        steps = {"train.steps": self.steps} if self.steps else {}
        return resolve_config(
            self.family,
            self.preset,
            {**(data_overrides or {}), **steps, **self.overrides, "run.study": self.name, "run.experiment": self.name},
        )


def _check_study_table(table: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(SweepStudy)} - {"space", "overrides", "prepare", "path"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown [study] key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    for key in ("name", "family", "data"):
        if key not in table:
            raise ConfigError(f"{where}: [study] needs {key!r}")
    if "steps" not in table and not table.get("checkpoint"):
        raise ConfigError(f"{where}: [study] needs 'steps' (or 'checkpoint' for an evaluation-only study)")


def _check_values(s: SweepStudy, where: str) -> None:
    for value, allowed, key in (
        (s.search, SEARCHES, "search"),
        (s.scheduler, SCHEDULERS, "scheduler"),
        (s.time_attr, TIME_ATTRS, "time_attr"),
        (s.analysis, ANALYSES, "analysis"),
    ):
        if value not in allowed:
            raise ConfigError(
                f"{where}: study.{key}={value!r} must be one of {', '.join(a or repr(a) for a in allowed)}"
            )
    if len(s.objective) != len(s.mode) or not s.objective:
        raise ConfigError(f"{where}: study.objective and study.mode need the same (non-zero) length")
    if any(m not in ("min", "max") for m in s.mode):
        raise ConfigError(f"{where}: study.mode entries must be 'min' or 'max'")
    if s.scheduler == "asha" and len(s.objective) > 1:
        raise ConfigError(f"{where}: ASHA needs a single objective")
    if (s.steps < 1 and not s.checkpoint) or s.num_samples < 1 or s.workers_per_trial < 0 or s.max_failures < 0:
        raise ConfigError(f"{where}: steps and num_samples must be >= 1, workers_per_trial and max_failures >= 0")
    if not 0 < s.grace_fraction <= 1:
        raise ConfigError(f"{where}: study.grace_fraction must lie in (0, 1]")
    if s.analysis in ("compare", "rate_distortion") and not s.group_by:
        raise ConfigError(f"{where}: analysis = {s.analysis!r} needs study.group_by")


def _check_reports(base: Config, s: SweepStudy, where: str) -> None:
    """Every result a trial reports to Tune must carry the objective: a checkpoint step (Ray Train reports it)
    is an eval step, and an objective from the end-of-trial tasks allows no report before the end."""
    t = base.train
    task_prefixes = tuple(f"{task.replace('-', '_')}_" for task in s.eval_tasks)
    from_tasks = [o for o in s.objective if o.startswith(task_prefixes) or o == "accuracy_mean"]
    if from_tasks and not s.checkpoint and (t.eval_every or t.ckpt_every):
        raise ConfigError(
            f"{where}: the objective {', '.join(from_tasks)} comes from the end-of-trial tasks, which every "
            "intermediate report to Tune lacks: set train.eval_every = 0 and train.ckpt_every = 0"
        )
    if s.checkpoint or not t.ckpt_every or s.workers_per_trial < 1:
        return
    if not t.eval_every or t.ckpt_every % t.eval_every:
        raise ConfigError(
            f"{where}: train.ckpt_every={t.ckpt_every} must be a multiple of train.eval_every={t.eval_every} "
            f"(a checkpoint reports to Tune, and the report needs the objective {', '.join(s.objective)})"
        )


def load_sweep_study(path: str | Path) -> SweepStudy:
    """Parse and validate a sweep study file."""
    where = str(path)
    raw = load_toml(path, TOP_LEVEL)
    table = dict(raw.get("study", {}))
    _check_study_table(table, where)
    for key in ("objective", "mode", "eval_tasks"):
        if isinstance(table.get(key), str):
            table[key] = [table[key]]
    study = SweepStudy(
        **table, overrides=dict(raw.get("overrides", {})), prepare=dict(raw.get("prepare", {})), path=where
    )
    if "num_samples" not in table:
        study.num_samples = 1 if study.search == "grid" else 8
    _check_values(study, where)
    base = study.base_config()
    _check_reports(base, study, where)
    study.space = parse_space(raw, base)
    if study.search == "grid":
        study.space.grid_points()  # ranges are an error for grid search
    return study
