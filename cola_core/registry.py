"""The family registry: one `FamilySpec` per model family (cola, ar, llada).

One training loop, one eval harness and one sweep layer serve all families because each family
supplies the same bundle of functions here. Importing this module imports no torch: a built-in
family's package (and torch with it) is imported the first time its spec is looked up.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Generic, Protocol, TypeVar

from cola_core.config import Config, ConfigError, ModelConfig
from cola_core.presets import Preset

if TYPE_CHECKING:
    import torch
    from torch import nn

    from cola_core.export import ExportFormat

ModelT = TypeVar("ModelT", bound="nn.Module")
"""A family's own model class (what its `build_model` returns and its other hooks take)."""
ModelT_contra = TypeVar("ModelT_contra", bound="nn.Module", contravariant=True)
"""The model class an `Objective` takes (contravariant: an objective for any `nn.Module` serves every family)."""


@dataclass(frozen=True)
class ParamCounts:
    """Exact parameter counts of a model built from a config."""

    total: int
    non_embedding: int
    """Everything except token embeddings and the output head (vocab-sized matrices)."""
    vae: int = 0
    """Cola only: the Text VAE (encoder + decoder), reported separately from the DiT."""
    backbone: int = 0
    """The matched part: the AR/LLaDA transformer or the Cola DiT (non-embedding)."""


@dataclass(frozen=True)
class FlopsPerToken:
    """Exact matmul FLOPs per training token (attention scores included; see cola_core/flops.py)."""

    forward: float
    train: float
    """Forward + backward of everything trained, plus forward-only frozen parts."""


@dataclass
class LossOutput:
    """What an objective returns: the scalar to backprop and named float metrics."""

    loss: torch.Tensor
    metrics: dict[str, float]


class Objective(Protocol[ModelT_contra]):
    """A training objective: (model, token batch (B, L), step) -> LossOutput."""

    def __call__(self, model: ModelT_contra, tokens: torch.Tensor, step: int) -> LossOutput: ...


class TokenScorer(Protocol):
    """Log-likelihood of given tokens: (model, cfg, token rows (B, T), n_targets, mc_num) -> per row
    (log p of its last n_targets[i] tokens given the tokens before them in nats, whether greedy decoding
    reproduces them). Rows share one length; 1 <= n_targets[i] < T; `mc_num` is the number of Monte
    Carlo samples where the family estimates the likelihood."""

    def __call__(
        self, model: nn.Module, cfg: Config, tokens: torch.Tensor, n_targets: list[int], mc_num: int
    ) -> list[tuple[float, bool]]: ...


class Sampler(Protocol):
    """Generates continuations: prompt ids (list of lists) -> new ids (list of lists); or, for one prompt,
    streams them as they are decoded (AR: a token per chunk; LLaDA, Cola: a block), concatenating to
    what `generate` returns (`cola_core.sampling`: one decoding loop serves both)."""

    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]: ...

    def stream(self, prompt: list[int], max_new_tokens: int) -> Iterator[list[int]]: ...


@dataclass(frozen=True)
class FamilySpec(Generic[ModelT]):
    """Everything the platform needs from a family; `ModelT` is the family's model class, which its hooks take."""

    name: str
    build_model: Callable[[Config], ModelT]
    build_objective: Callable[[Config], Objective[ModelT]]
    build_sampler: Callable[[ModelT, Config], Sampler]
    count_params: Callable[[ModelConfig], ParamCounts]
    flops_per_token: Callable[[Config], FlopsPerToken]
    param_groups: Callable[[ModelT, Config], dict[str, list[nn.Parameter]]] | None = None
    """Named trainable parameter groups (Cola: `dit`, `vae`); None means one group `all`."""
    lr_scale: Callable[[Config, str, int], float] | None = None
    """Learning-rate multiplier of a named group at a step (Cola: VAE ratio, interval freezing)."""
    prepare: Callable[[ModelT, Config, Callable[[], torch.Tensor]], None] | None = None
    """One-off set-up on a fresh run that needs data (Cola Stage 2: latent shift/scale)."""
    prepare_batches: Callable[[Config], int] | None = None
    """How many micro-batches `prepare` draws (a distributed run reads only enough shards for them); None:
    it may draw from the whole train split."""
    check_train_config: Callable[[Config], None] | None = None
    """Raises ConfigError for a config that cannot start training (checked before anything is written)."""
    eval_loss: Callable[[ModelT, torch.Tensor, Config], dict[str, float]] | None = None
    """Likelihood-style metrics on a held-out batch (NLL / ELBO / bound); None uses the objective."""
    diagnostics: Callable[[ModelT, torch.Tensor, Config], dict[str, float]] | None = None
    """Readable held-out diagnostics on a batch, computed at every evaluation (Cola: context gain and
    probes; LLaDA: CE at fixed mask ratios)."""
    sampler_knobs: tuple[str, ...] = ("temperature", "top_k", "top_p")
    """The `sampler.*` fields that matter for this family (recorded with every evaluation)."""
    readable_metric: str = "eval_loss"
    """The held-out number that reads right for this family (lower is better): what scaling tables
    and plots show as `readable_metric`."""
    ladder_overrides: dict[str, Any] = field(default_factory=dict)
    """Config overrides selecting the run whose size and cost the preset ladder reports (Cola: its
    joint Stage 2: encoder + decoder + 2L DiT + reference encoder)."""
    result_fields: tuple[str, ...] = ()
    """Config fields (`section.key`) that identify what a run of this family trained, recorded in its
    result.json under `key` (Cola: its stage and latent evolution)."""
    score_tokens: TokenScorer | None = None
    """Token log-likelihood for log-likelihood benchmarks (AR: exact; LLaDA: its Monte Carlo bound);
    None: the family has none, and such requests are refused."""
    check_config: Callable[[Config], None] | None = None
    """Raises ConfigError for a config whose shapes this family cannot build (called by `validate`; no I/O)."""
    preset_shape: Callable[[Preset], dict[str, Any]] | None = None
    """`model.*` overrides giving this family a preset's size (AR/LLaDA: `cola_core.presets.matched_shape`);
    None: the family has no place on the preset ladder, and resolving a preset for it is refused."""
    stages: tuple[int, ...] = (0,)
    """The `train.stage` of each stage of a full run, in training order (Cola: (1, 2)); (0,): one run
    that leaves `train.stage` as configured."""
    stage1_keys: tuple[str, ...] = ()
    """Config fields (`section.key`) a Stage-1 run depends on besides its data, optimizer and seed: a sweep's
    trials that agree on them share one Stage-1 run (Cola: the VAE's shape, logSNR and Stage-1 loss weights)."""
    needs_stage1: Callable[[Config], bool] | None = None
    """Whether a config trains on from the Stage-1 run at `run.init_from` (Cola: Stage 2 unless
    `train.latent_evolution` is scratch); None: never."""
    networks: Callable[[ModelT], dict[str, nn.Module]] | None = None
    """Named sub-networks whose forward passes sampling benchmarks time (Cola: dit, decoder, encoder);
    None: the whole model, as `model`."""
    sections: dict[str, type] = field(default_factory=dict)
    """The family's own config section types by section name (`model`, `objective`, `train`, `sampler`),
    each a subclass of the shared base in `cola_core.config` (Cola: `ColaModelConfig`, ...). A section not
    named is the base (the model section: token ids only). A run's config holds exactly these fields, and its
    name (`Config.hash`) covers nothing else."""
    export_formats: dict[str, ExportFormat] = field(default_factory=dict)
    """`python -m jobs.export --format NAME` for this family (AR/LLaDA: `llama`, a Hugging Face Llama
    checkpoint; Cola: `cola`, VAE + DiT safetensors); empty: the family cannot be exported."""


_BUILTIN: dict[str, tuple[str, tuple[str, ...]]] = {
    "ar": ("cola_core.families.ar", ("llama",)),
    "cola": ("cola_core.families.cola", ("cola",)),
    "llada": ("cola_core.families.llada", ("llama",)),
}
"""Built-in family name -> (the package whose import registers it, the names of its `export_formats`): what
is known of a built-in family before `get_family` imports its package (and torch with it)."""

_REGISTRY: dict[str, FamilySpec[Any]] = {}

FAMILY_MODULES_ENV = "COLA_FAMILY_MODULES"
"""Comma-separated modules whose import registers more families: dotted module names, or paths of `.py`
files (a family kept outside the package, e.g. `tests/families/bigram.py`). Every process reads it, so
set it where the jobs run; Ray workers get it from their driver (`cola_platform.data.ray_env`)."""
_LOADED_MODULES: set[str] = set()


def _load_family_modules() -> None:
    """Import every `COLA_FAMILY_MODULES` entry not imported yet (each registers its families)."""
    for entry in (e.strip() for e in os.environ.get(FAMILY_MODULES_ENV, "").split(",")):
        if not entry or entry in _LOADED_MODULES:
            continue
        _LOADED_MODULES.add(entry)
        try:
            if entry.endswith(".py"):
                spec = importlib.util.spec_from_file_location(f"cola_family_module_{Path(entry).stem}", entry)
                if spec is None or spec.loader is None:
                    raise ImportError(f"no module at {entry}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module  # pickled classes of the module resolve by this name
                spec.loader.exec_module(module)
            else:
                importlib.import_module(entry)
        except (ImportError, OSError) as err:
            raise ConfigError(f"${FAMILY_MODULES_ENV} entry {entry!r} cannot be imported ({err})") from None


def register_family(spec: FamilySpec[ModelT]) -> FamilySpec[ModelT]:
    """Add a family to the registry (each family package calls it at import; a family registered at run
    time is listed and looked up like a built-in one)."""
    _REGISTRY[spec.name] = spec
    return spec


def get_family(name: str) -> FamilySpec[Any]:
    """Look up a family by name (importing a built-in family's package on first use), or raise
    ConfigError listing the known ones."""
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name][0])
    if name not in _REGISTRY:
        _load_family_modules()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown family {name!r}: choose one of {', '.join(family_names())}")
    return _REGISTRY[name]


def family_names() -> list[str]:
    """Every family name, built-in or registered (or named by `COLA_FAMILY_MODULES`), sorted; imports no
    built-in family package."""
    _load_family_modules()
    return sorted({*_BUILTIN, *_REGISTRY})


def export_format_names() -> list[str]:
    """Every export format some family offers (`FamilySpec.export_formats`), sorted; imports no built-in
    family package."""
    _load_family_modules()
    names = {fmt for spec in _REGISTRY.values() for fmt in spec.export_formats}
    names.update(fmt for family, (_, formats) in _BUILTIN.items() if family not in _REGISTRY for fmt in formats)
    return sorted(names)
