"""One typed config tree for every family, job, study file and sweep.

`Config` holds seven sections (model, objective, optim, data, train, sampler, run); the family picks the
types of the first, second, fifth and sixth (`FamilySpec.sections`). The CLI
(`--set model.latent_dim=64`), TOML study files and Tune/Optuna trials all address fields by the
same dotted keys, and everything goes through `apply_overrides` + `validate` (`cola_core/config_checks.py`), so a bad key or value
is caught in one place with one clear message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cola_core.config_history import ADDED_FIELDS, FLAT_ERA_FIELDS
from cola_core.config_rules import ConfigError, even_heads, non_negative, one_of, positive, unit_interval


@dataclass
class ModelConfig:
    """Architecture, the part every family reads: the token ids the data defines. A family's model section
    extends it (`FamilySpec.sections`): AR and LLaDA use `TokenModelConfig`, Cola its own."""

    vocab_size: int = 4096
    """Token vocabulary (set from the data manifest at train time)."""
    eos_id: int = 0
    """End-of-document token id (from the tokenizer)."""
    pad_id: int = 1
    """Padding token id (from the tokenizer)."""
    mask_id: int = 2
    """[MASK] token id, used by the VAE mask loss and by LLaDA (from the tokenizer)."""

    def tokens_per_position(self) -> int:
        """Tokens the model reads as one position (Cola: its patch size p; 1 for token-level models): evaluation
        reports accuracy per prompt length modulo it."""
        return 1

    def check(self) -> None:
        """Raise ConfigError for a value this section cannot build (each section checks its own fields)."""
        positive(self, "model", ("vocab_size",))


@dataclass
class BackboneConfig(ModelConfig):
    """A RoPE transformer backbone (the AR / LLaDA transformer, the Cola DiT)."""

    dim: int = 128
    """Hidden size of the backbone."""
    n_layers: int = 2
    """Backbone depth."""
    n_heads: int = 4
    """Attention heads of the backbone."""
    ffn_hidden: int = 0
    """Backbone MLP hidden size; 0 means 4 * dim. The matched ladder solves it for AR/LLaDA."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""

    def backbone_ffn(self) -> int:
        """Resolved backbone MLP hidden size."""
        return self.ffn_hidden or 4 * self.dim

    def check(self) -> None:
        super().check()
        positive(self, "model", ("dim", "n_layers", "n_heads"))
        non_negative(self, "model", ("ffn_hidden",))
        even_heads("model.dim", self.dim, "model.n_heads", self.n_heads)


@dataclass
class TokenModelConfig(BackboneConfig):
    """A token transformer with an embedding and an output head (the AR and LLaDA model section)."""

    tie_embeddings: bool = False
    """Tie the input embedding and output head."""


@dataclass
class ObjectiveConfig:
    """Loss settings; a family's objective section extends it (AR's next-token loss has none)."""

    def check(self) -> None:
        """Raise ConfigError for a value this section cannot train with."""


@dataclass
class OptimConfig:
    """AdamW (or Muon for the hidden matrices) with linear warmup and cosine decay."""

    name: str = "adamw"
    """`adamw`, or `muon`: `torch.optim.Muon` (Newton-Schulz orthogonalised momentum, its update scaled to
    AdamW's RMS so the same lr schedule applies) for every `nn.Linear` weight except the output head,
    AdamW for embeddings, norms, biases and the head. On Ray Train Muon needs `train.zero_stage=0` (ZeRO-1/2/3
    partition flattened parameters; Muon orthogonalises each matrix whole)."""
    lr: float = 1e-3
    """Peak learning rate (of the backbone / DiT)."""
    min_lr_ratio: float = 0.1
    """Cosine floor as a fraction of the peak."""
    warmup_steps: int = 20
    """Linear warmup steps."""
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    """Max global gradient norm (0 disables clipping)."""

    def check(self) -> None:
        """Raise ConfigError for a value the optimizer cannot run with."""
        one_of(self, "optim", "name", ("adamw", "muon"))
        positive(self, "optim", ("lr",))
        non_negative(self, "optim", ("warmup_steps",))
        unit_interval(self, "optim", ("min_lr_ratio",))


@dataclass
class DataConfig:
    """Where the token sequences come from."""

    path: str = ""
    """Prepared data directory or s3:// prefix (holds manifest.json)."""
    seq_len: int = 64
    """Tokens per training sequence (must equal the manifest's)."""
    shuffle: bool = True
    """Shuffle sequence order each epoch (seeded)."""
    ingest: str = "split"
    """Ray Train ingest: `split` (Ray Data streaming_split, each row once per epoch) or `strided`
    (every worker reads all rows and keeps every W-th micro-batch: the exact single-process order)."""
    tokenizer_hash: str = ""
    """sha256 of the tokenizer the data was made with (from the manifest); a model trained on
    one tokenizer refuses data made with another."""

    def check(self) -> None:
        """Raise ConfigError for a value the data pipeline cannot run with."""
        positive(self, "data", ("seq_len",))
        one_of(self, "data", "ingest", ("split", "strided"))


@dataclass
class TrainConfig:
    """Training loop settings."""

    steps: int = 100
    """Optimizer steps."""
    micro_batch_size: int = 8
    """Sequences per worker per forward pass."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    eval_every: int = 50
    """Eval-loss period in steps (0: only at the end)."""
    eval_batches: int = 4
    """Micro-batches of the validation split per eval."""
    log_every: int = 10
    ckpt_every: int = 50
    """Checkpoint period in steps (0: only at the end)."""
    keep_checkpoints: int = 2
    seed: int = 0
    device: str = "cpu"
    """`cpu` or `cuda`."""
    precision: str = "fp32"
    """`fp32` or `bf16` (bf16 only makes sense on GPU; CPU bf16 matmuls are ~100x slower here)."""
    threads: int = 0
    """torch intra-op threads (0: leave torch's default)."""
    compile: bool = False
    """`torch.compile` the training forward: ~+7 % tokens/s at `m` on CPU (BENCHMARKS.md), tens of seconds to compile."""
    stage: int = 1
    """The stage this run trains (`FamilySpec.stages`; Cola: 1 = VAE only, 2 = joint VAE + DiT)."""
    # --- distribution (used by cola_platform) -------------------------------------------------
    workers: int = 0
    """Ray Train workers (0: in-process loop)."""
    zero_stage: int = 0
    """DeepSpeed ZeRO stage (0-3) when workers > 0."""
    max_failures: int = 2
    """Worker-group restarts from the latest checkpoint before a distributed run fails."""

    def check(self) -> None:
        """Raise ConfigError for a value the training loop cannot run with."""
        positive(self, "train", ("steps", "micro_batch_size", "grad_accum"))
        non_negative(self, "train", ("workers", "max_failures", "eval_every", "ckpt_every", "threads", "stage"))
        one_of(self, "train", "device", ("cpu", "cuda"))
        one_of(self, "train", "precision", ("fp32", "bf16"))
        one_of(self, "train", "zero_stage", (0, 1, 2, 3))


@dataclass
class SamplerConfig:
    """Generation settings every family reads; a family's sampler section extends it (Cola: ODE steps and
    solver; LLaDA: denoising steps and remasking)."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    """0 means greedy."""
    top_k: int = 0
    top_p: float = 1.0
    batch_size: int = 8
    """Prompts decoded together in one batch (each family's sampler says how it batches them)."""
    seed: int = 0

    def check(self) -> None:
        """Raise ConfigError for a value this section cannot sample with."""
        positive(self, "sampler", ("batch_size",))
        non_negative(self, "sampler", ("max_new_tokens", "temperature", "top_k"))
        unit_interval(self, "sampler", ("top_p",))


@dataclass
class RunConfig:
    """Bookkeeping: names and tracking."""

    family: str = "ar"
    preset: str = "tiny"
    name: str = ""
    study: str = ""
    init_from: str = ""
    """Cola Stage 2: the Stage-1 run directory to start from."""
    tracking_uri: str = ""
    """MLflow tracking server; empty means MLFLOW_TRACKING_URI, and neither means no MLflow."""
    storage: str = ""
    """Ray Train checkpoint storage (a directory or s3:// URI; empty: $COLA_STORAGE, else RUN_DIR/ray).
    Re-running with the same run.name and storage resumes."""
    experiment: str = "cola"


FAMILY_SECTIONS = ("model", "objective", "train", "sampler")
"""The sections whose type the family picks (`FamilySpec.sections`); optim, data and run are shared."""


@dataclass
class Config:
    """The whole resolved configuration of one run. The model, objective, train and sampler sections are
    the family's own types (`FamilySpec.sections`: Cola's model section has `latent_dim`, AR's has not),
    so build a config for a family with `Config.for_family(name)` or by setting `run.family` first."""

    model: ModelConfig = field(default_factory=TokenModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        self.set_family(self.run.family)

    @classmethod
    def for_family(cls, family: str) -> Config:
        """The default config of a family (its own section types at their defaults)."""
        return cls(run=RunConfig(family=family))

    def set_family(self, family: str) -> None:
        """Make this a config of `family`: each family section becomes the family's type, keeping the values
        of the fields the old and new types share (the token ids, a backbone's shape, the generic settings)."""
        from cola_core.registry import get_family  # lazy: the registry imports this module

        sections = get_family(family).sections
        self.run.family = family
        for name in FAMILY_SECTIONS:
            kind = sections.get(name, BASE_SECTIONS[name])
            current = getattr(self, name)
            if type(current) is not kind:
                shared = {f.name for f in dataclasses.fields(kind)}
                setattr(self, name, kind(**{k: v for k, v in dataclasses.asdict(current).items() if k in shared}))

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON/TOML friendly)."""
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Flattened `section.field -> value` dict of the fields this config's family has (for MLflow params and
        hashing)."""
        return {f"{s}.{k}": v for s, sec in self.to_dict().items() for k, v in sec.items()}

    def hash(self, exclude_sections: tuple[str, ...] = ("run",)) -> str:
        """Short stable hash of everything that changes what is trained (bookkeeping excluded, the family kept).

        It covers the fields this family's sections have and nothing another family defines. Run directories
        were named when one flat section served every family; so that they keep their names, every field of
        that flat config this family lacks enters as the constant it then had (`FLAT_ERA_FIELDS`): a constant,
        so no change to another family's fields or defaults renames a run. A field added since enters only when
        it differs from its default (`ADDED_FIELDS`)."""
        flat = {
            k: v
            for k, v in self.flat().items()
            if k.split(".")[0] not in exclude_sections and not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])
        }
        for key, value in FLAT_ERA_FIELDS.items():
            if key.split(".")[0] not in exclude_sections:
                flat.setdefault(key, value)
        flat["run.family"] = self.run.family
        return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:10]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a nested dict as `to_dict` wrote it. Unknown keys are an error, except the flat config's
        fields this family lacks (`FLAT_ERA_FIELDS`): config files written before sections were per family
        carry every family's fields, and those this family never read are dropped."""
        flat = flatten(data)
        cfg = cls.for_family(str(flat.get("run.family", RunConfig.family)))
        own = set(cfg.flat())
        return apply_overrides(cfg, {k: v for k, v in flat.items() if k in own or k not in FLAT_ERA_FIELDS})

    def save(self, path: str | Path) -> None:
        """Write as JSON (atomically)."""
        from cola_core.utils.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Read a config written by `save` (also one written before sections were per family)."""
        return cls.from_dict(json.loads(Path(path).read_text()))


SECTIONS = tuple(f.name for f in dataclasses.fields(Config))
BASE_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "objective": ObjectiveConfig,
    "train": TrainConfig,
    "sampler": SamplerConfig,
}
"""A family section's type when the family names none in `FamilySpec.sections`."""


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"model": {"dim": 64}}` -> `{"model.dim": 64}`."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(section: type) -> dict[str, Any]:
    """A config section's resolved field types, cached (resolving them is slow, and they never change)."""
    if section not in _HINTS:
        _HINTS[section] = typing.get_type_hints(section)
    return _HINTS[section]


def _field_type(section_obj: Any, name: str) -> type:
    tp = _type_hints(type(section_obj))[name]
    if isinstance(tp, types.UnionType):  # e.g. `float | None` -> float
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _coerce(key: str, value: Any, tp: type) -> Any:
    """Convert a CLI string / TOML value to the field's type, or raise ConfigError."""
    if isinstance(value, str) and tp is not str:
        text = value.strip()
        if tp is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{key}={value!r} is not a boolean (use true/false)")
        try:
            return tp(float(text)) if tp is int and "e" in text.lower() else tp(text)
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not a valid {tp.__name__}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{key}={value!r} must be a {tp.__name__}")
    return value


def set_key(cfg: Config, key: str, value: Any) -> None:
    """Set one dotted key (`optim.lr`) with type coercion; unknown keys raise ConfigError. `run.family` also
    gives the family sections the family's types (`Config.set_family`)."""
    parts = key.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise ConfigError(f"unknown config key {key!r}: keys look like SECTION.FIELD with SECTION in {SECTIONS}")
    if key == "run.family":
        cfg.set_family(_coerce(key, value, str))
        return
    section = getattr(cfg, parts[0])
    names = {f.name for f in dataclasses.fields(section)}
    if key in FLAT_ERA_FIELDS and parts[1] not in names:
        raise ConfigError(f"{key!r} is not a setting of family {cfg.run.family!r} (another family's field)")
    if parts[1] not in names:
        close = [n for n in names if n.startswith(parts[1][:3])]
        hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
        raise ConfigError(f"unknown config key {key!r}{hint}")
    setattr(section, parts[1], _coerce(key, value, _field_type(section, parts[1])))


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Apply a flat `{dotted.key: value}` mapping in place (`run.family` first, so the keys after it address the
    family's sections); returns cfg for chaining."""
    for key, value in sorted(overrides.items(), key=lambda kv: kv[0] != "run.family"):
        set_key(cfg, key, value)
    return cfg


def family_keys(family: str) -> frozenset[str]:
    """Every dotted key a config of `family` has (its own section fields and the shared ones)."""
    return frozenset(Config.for_family(family).flat())


_S = typing.TypeVar("_S")


def section_as(section: Any, kind: type[_S]) -> _S:
    """`section` typed as a family's own section type `kind`, for the family's code (ConfigError naming both
    types when the config is another family's: set `run.family` first)."""
    if not isinstance(section, kind):
        raise ConfigError(f"a {type(section).__name__} is not a {kind.__name__} (set run.family first)")
    return section
