"""One typed config tree for every family, job, study file and sweep.

`Config` holds six sections (model, objective, optim, data, train, sampler, run). The CLI
(`--set model.latent_dim=64`), TOML study files and Tune/Optuna trials all address fields by the
same dotted keys, and everything goes through `apply_overrides` + `validate` (`cola_core/config_checks.py`), so a bad key or value
is caught in one place with one clear message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config key or value is invalid; the message names the field and what to do."""


@dataclass
class ModelConfig:
    """Architecture. One flat record shared by all families; a family ignores fields it has no use for."""

    vocab_size: int = 4096
    """Token vocabulary (set from the data manifest at train time)."""
    eos_id: int = 0
    """End-of-document token id (from the tokenizer)."""
    pad_id: int = 1
    """Padding token id (from the tokenizer)."""
    mask_id: int = 2
    """[MASK] token id, used by the VAE mask loss and by LLaDA (from the tokenizer)."""
    dim: int = 128
    """Hidden size of the backbone (AR / LLaDA transformer, Cola DiT)."""
    n_layers: int = 2
    """Backbone depth."""
    n_heads: int = 4
    """Attention heads of the backbone."""
    ffn_hidden: int = 0
    """Backbone MLP hidden size; 0 means 4 * dim. The matched ladder solves it for AR/LLaDA."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""
    tie_embeddings: bool = False
    """Tie the input embedding and output head (AR / LLaDA)."""
    # --- Cola: Text VAE -----------------------------------------------------------------------
    latent_dim: int = 16
    """Channels per latent (d)."""
    patch_size: int = 1
    """Tokens pooled into one latent (p)."""
    block_size: int = 4
    """Latents per DiT block (block-causal granularity)."""
    vae_dim: int = 128
    """Hidden size of the VAE encoder and decoder."""
    vae_layers: int = 1
    """Depth of the VAE encoder and of the decoder (each)."""
    vae_heads: int = 4
    """Attention heads in the VAE."""
    vae_ffn_hidden: int = 0
    """VAE MLP hidden size; 0 means 4 * vae_dim."""
    vae_logsnr: str = "learned"
    """`learned` (free log-variance head) or `fixed:<v>` (sigma^2 = exp(-v))."""
    timestep_freq_dim: int = 256
    """Sinusoidal timestep features fed to the DiT's timestep MLP."""

    def backbone_ffn(self) -> int:
        """Resolved backbone MLP hidden size."""
        return self.ffn_hidden or 4 * self.dim

    def vae_ffn(self) -> int:
        """Resolved VAE MLP hidden size."""
        return self.vae_ffn_hidden or 4 * self.vae_dim

    def fixed_logsnr(self) -> float | None:
        """The fixed VAE logSNR, or None when it is learned."""
        if self.vae_logsnr == "learned":
            return None
        return float(self.vae_logsnr.split(":", 1)[1])


@dataclass
class ObjectiveConfig:
    """Loss settings. Cola fields follow DESIGN.md §3, LLaDA fields §4."""

    beta_kl: float = 1e-3
    """beta: weight of KL(q || N(0, I)) in Stage 1 and of E_q[log q] in Stage 2."""
    lambda_mask: float = 0.5
    """Weight of the BERT-style mask reconstruction loss."""
    mask_ratio: float = 0.15
    """Fraction of encoder input tokens replaced by [MASK] for the mask loss."""
    lambda_vae: float = 1.0
    """Stage 2: weight of the VAE terms."""
    lambda_fm: float = 1.0
    """Stage 2: weight of the flow-matching loss."""
    lambda_ref: float = 1.0
    """Stage 2: weight of KL(q_phi || q_phi_ref) to the frozen Stage-1 encoder."""
    t_sampling: str = "logit_normal"
    """Flow-matching time distribution: `logit_normal` or `uniform`."""
    noise_loc: float = 1.0
    """Logit-normal location (larger = noisier). Paper: 1.0 at d=16, 1.7 at 64, 2.3 at 128."""
    noise_scale: float = 1.0
    """Logit-normal scale."""
    clean_prefix_prob: float = 0.05
    """Per block: probability that a random prefix of the noisy block is pinned clean (t=0)."""
    llada_eps: float = 1e-3
    """LLaDA: mask probability is (1 - eps) * t + eps."""
    llada_random_length_prob: float = 0.01
    """LLaDA: fraction of batches cut to a random shorter length."""


@dataclass
class OptimConfig:
    """AdamW (or Muon for the hidden matrices) with linear warmup and cosine decay."""

    name: str = "adamw"
    """`adamw`, or `muon`: `torch.optim.Muon` (Newton-Schulz orthogonalised momentum, its update scaled to
    AdamW's RMS so the same lr schedule applies) for every `nn.Linear` weight except the output head,
    AdamW for embeddings, norms, biases and the head. Muon trains in process only (`train.workers=0`)."""
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
    # --- Cola --------------------------------------------------------------------------------
    stage: int = 1
    """Cola training stage: 1 = VAE only, 2 = joint VAE + DiT."""
    latent_evolution: str = "joint"
    """Stage 2 VAE treatment: `joint`, `fixed_vae`, `scratch` or `interval`."""
    vae_lr_ratio: float = 1.0
    """VAE learning rate as a fraction of the DiT's (Stage 2)."""
    interval_steps: int = 50
    """`interval`: the VAE alternates frozen / trainable every this many steps."""
    latent_stats_batches: int = 8
    """Batches used to estimate the latent shift/scale at the start of Stage 2."""
    # --- distribution (used by cola_platform) -------------------------------------------------
    workers: int = 0
    """Ray Train workers (0: in-process loop)."""
    zero_stage: int = 0
    """DeepSpeed ZeRO stage (0-3) when workers > 0."""
    max_failures: int = 2
    """Worker-group restarts from the latest checkpoint before a distributed run fails."""


@dataclass
class SamplerConfig:
    """Generation settings (per family; a family ignores the others)."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    """0 means greedy."""
    top_k: int = 0
    top_p: float = 1.0
    steps: int = 16
    """Cola ODE steps per block; LLaDA denoising steps in total."""
    cfg: float = 4.0
    """Classifier-free guidance weight (Cola: v_u + w (v_c - v_u); LLaDA: 0 disables)."""
    solver: str = "euler"
    """Cola ODE solver: `euler` or `heun`."""
    block_length: int = 8
    """LLaDA semi-autoregressive block length."""
    remasking: str = "low_confidence"
    """LLaDA: `low_confidence` or `random`."""
    batch_size: int = 8
    """Prompts decoded together in one batch (each family's sampler says how it batches them)."""
    seed: int = 0


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


@dataclass
class Config:
    """The whole resolved configuration of one run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON/TOML friendly)."""
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Flattened `section.field -> value` dict (for MLflow params and hashing)."""
        return {f"{s}.{k}": v for s, sec in self.to_dict().items() for k, v in sec.items()}

    def hash(self, exclude_sections: tuple[str, ...] = ("run",)) -> str:
        """Short stable hash of everything that changes what is trained (bookkeeping excluded, the family kept).
        A field added after runs were named enters it only when it differs from its default
        (`ADDED_FIELDS`), so existing run directories keep their names."""
        flat = {
            k: v
            for k, v in self.flat().items()
            if k.split(".")[0] not in exclude_sections and not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])
        }
        flat["run.family"] = self.run.family
        return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:10]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a nested dict (unknown keys are an error)."""
        cfg = cls()
        apply_overrides(cfg, flatten(data))
        return cfg

    def save(self, path: str | Path) -> None:
        """Write as JSON (atomically)."""
        from cola_core.utils.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Read a config written by `save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


SECTIONS = tuple(f.name for f in dataclasses.fields(Config))
ADDED_FIELDS: dict[str, Any] = {"optim.name": "adamw"}
"""Fields added after run directories were named by `Config.hash`, with the default they are hashed
away at (a run that leaves them at it keeps its old name)."""


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
    """Set one dotted key (`optim.lr`) with type coercion; unknown keys raise ConfigError."""
    parts = key.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise ConfigError(f"unknown config key {key!r}: keys look like SECTION.FIELD with SECTION in {SECTIONS}")
    section = getattr(cfg, parts[0])
    names = {f.name for f in dataclasses.fields(section)}
    if parts[1] not in names:
        close = [n for n in names if n.startswith(parts[1][:3])]
        hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
        raise ConfigError(f"unknown config key {key!r}{hint}")
    setattr(section, parts[1], _coerce(key, value, _field_type(section, parts[1])))


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Apply a flat `{dotted.key: value}` mapping in place; returns cfg for chaining."""
    for key, value in overrides.items():
        set_key(cfg, key, value)
    return cfg


def parse_set_args(items: list[str]) -> dict[str, str]:
    """`["optim.lr=3e-4", ...]` (from repeated `--set`) -> `{"optim.lr": "3e-4"}`."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like key=value, e.g. optim.lr=3e-4")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def load_toml(path: str | Path, tables: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors (and top-level tables not in `tables`, if given) into ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: invalid TOML ({err})") from None
    unknown = set(raw) - set(tables) if tables else set()
    if unknown:
        raise ConfigError(f"{p}: unknown table(s) {', '.join(sorted(unknown))}; use {', '.join(tables)}")
    return raw
