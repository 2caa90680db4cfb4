"""Scaling studies: the TOML schema and the planner that turns budgets into runs.

    [study]
    name = "demo"
    families = ["cola", "ar", "llada"]
    budgets = [2e13, 6e13, 1.5e14]       # training FLOPs per run (the paper reports EFLOPs)
    presets = ["tiny", "xs"]             # the isoFLOP grid: every preset at every budget
    data = "runs/data/demo"
    [overrides]                          # every run
    [overrides.cola]                     # one family

Steps come from the exact FLOPs accounting (`cola_core.flops`). A Cola run is Stage 1 (a
`cola_stage1_fraction` share of the budget) followed by Stage 2 (the rest); its FLOPs are the sum.
A (family, preset, budget) whose rounding would miss the budget by more than `tolerance` is
planned as skipped, with the reason, rather than silently mis-sized.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cola_core.config import Config, ConfigError, family_keys
from cola_core.config_text import load_toml
from cola_core.flops import steps_for_budget
from cola_core.presets import get_preset, resolve_config
from cola_core.registry import get_family

TOP_LEVEL = ("study", "overrides", "prepare")


@dataclass
class ScalingStudy:
    """The [study] table of a scaling study, typed."""

    name: str
    families: list[str]
    budgets: list[float]
    presets: list[str]
    data: str
    workers: int = 0
    """Ray Train workers per run (0: each run trains in one Ray task)."""
    zero_stage: int = 0
    cola_stage1_fraction: float = 0.3
    eval_tasks: list[str] = field(
        default_factory=lambda: ["sw-lambada", "sw-cloze", "sw-qa", "sw-order", "sw-agreement", "sw-quality"]
    )
    eval_items: int = 100
    loss_metric: str = "eval_loss"
    """Per-family loss for isoFLOP fits (not comparable across families: fits are per family)."""
    quality_metric: str = "accuracy_mean"
    """Cross-family metric for curves and crossovers (generative accuracy; higher is better)."""
    tolerance: float = 0.02
    assumed_tokens_per_second: float = 20000.0
    """Throughput for --dry-run wall-time estimates when no finished run has measured one."""
    max_concurrent: int = 0
    quality_thresholds: list[float] = field(default_factory=list)
    """Quality levels whose first budget the report gives per family (e.g. [0.1, 0.5]); with them, a
    family stops climbing budgets once it reaches the highest (see cola_platform.scaling.budget_gate)."""
    family_time_cap_s: float = 0.0
    """Wall-time cap per family (0: none): budgets that would exceed it are not run, and reported."""
    description: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    family_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    prepare: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def load_scaling_study(path: str | Path) -> ScalingStudy:
    """Parse and validate a scaling study file (all errors before anything runs)."""
    where = str(path)
    raw = load_toml(path, TOP_LEVEL)
    table = dict(raw.get("study", {}))
    known = {f.name for f in fields(ScalingStudy)} - {"overrides", "family_overrides", "prepare", "path"}
    bad = set(table) - known
    if bad:
        raise ConfigError(
            f"{where}: unknown [study] key(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(known))}"
        )
    for key in ("name", "families", "budgets", "presets", "data"):
        if key not in table:
            raise ConfigError(f"{where}: [study] needs {key!r}")
    over = dict(raw.get("overrides", {}))
    fam_over = {k: over.pop(k) for k in list(over) if isinstance(over[k], dict)}
    study = ScalingStudy(
        **table, overrides=over, family_overrides=fam_over, prepare=dict(raw.get("prepare", {})), path=where
    )
    for fam in [*study.families, *fam_over]:
        get_family(fam)
    for p in study.presets:
        get_preset(p)
    if not study.budgets or any(b <= 0 for b in study.budgets):
        raise ConfigError(f"{where}: study.budgets must be positive FLOPs")
    if any(not 0 < q <= 1 for q in study.quality_thresholds) or study.family_time_cap_s < 0:
        raise ConfigError(f"{where}: study.quality_thresholds must lie in (0, 1] and family_time_cap_s be >= 0")
    if not 0 < study.cola_stage1_fraction < 1:
        raise ConfigError(f"{where}: study.cola_stage1_fraction must lie in (0, 1)")
    return study


@dataclass
class PlannedStage:
    """One training invocation."""

    overrides: dict[str, Any]
    steps: int
    tokens: int
    flops: float


@dataclass
class PlannedRun:
    """One point of the study: a family at a preset and budget (Cola: two stages)."""

    family: str
    preset: str
    budget: float
    stages: list[PlannedStage]
    params_backbone: int
    params_total: int
    skipped: str = ""

    @property
    def flops(self) -> float:
        return sum(s.flops for s in self.stages)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.stages)

    @property
    def key(self) -> str:
        return f"{self.family}-{self.preset}-{self.budget:.3g}".replace("+", "")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(flops=self.flops, tokens=self.tokens, key=self.key)
        return d


def run_config(
    study: ScalingStudy, family: str, preset: str, data_overrides: dict[str, Any], extra: dict[str, Any]
) -> Config:
    """The resolved config of one stage (study overrides, then family overrides, then stage extras)."""
    over = {
        **data_overrides,
        **study.overrides,
        **study.family_overrides.get(family, {}),
        **extra,
        "run.study": study.name,
        "run.experiment": study.name,
        "train.workers": study.workers,
        "train.zero_stage": study.zero_stage,
    }
    try:
        return resolve_config(family, preset, over)
    except ConfigError as err:
        foreign = [k for k in study.overrides if k not in family_keys(family)]
        if foreign:  # a shared override only some families have
            raise ConfigError(f"{err}: move {', '.join(foreign)} from [overrides] to [overrides.<family>]") from None
        raise


def plan_run(
    study: ScalingStudy, family: str, preset: str, budget: float, data_overrides: dict[str, Any]
) -> PlannedRun:
    """Steps per stage that spend `budget` within the study's tolerance (or a skipped run)."""
    world = max(study.workers, 1)
    spec = get_family(family)
    first, *rest = (
        spec.stages
    )  # a staged family's first stage takes cola_stage1_fraction, the later ones split the rest
    head = study.cola_stage1_fraction if rest else 1.0
    shares = [(first, head), *((stage, (1 - head) / len(rest)) for stage in rest)]
    stages = []
    for stage, share in shares:
        extra = {"train.stage": stage} if stage else {}
        cfg = run_config(study, family, preset, data_overrides, {**extra, "train.steps": 1})
        plan = steps_for_budget(cfg, share * budget, world)
        stages.append(PlannedStage({**extra, "train.steps": plan.steps}, plan.steps, plan.tokens, plan.flops))
    cfg = run_config(study, family, preset, data_overrides, stages[-1].overrides)
    counts = spec.count_params(cfg.model)
    run = PlannedRun(family, preset, budget, stages, counts.backbone, counts.total)
    miss = abs(run.flops - budget) / budget
    if miss > study.tolerance:
        run.skipped = (
            f"{preset} cannot hit {budget:.3g} FLOPs within {study.tolerance:.0%} (off by {miss:.1%}: too few steps)"
        )
    return run


def plan_study(study: ScalingStudy, data_overrides: dict[str, Any]) -> list[PlannedRun]:
    """Every (family, preset, budget) of the study, in budget order."""
    return [
        plan_run(study, fam, preset, budget, data_overrides)
        for budget in sorted(study.budgets)
        for fam in study.families
        for preset in study.presets
    ]
