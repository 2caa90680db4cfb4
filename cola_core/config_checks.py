"""Cross-field checks of a whole config (`validate`): choices, ranges, shapes the families can build, and
combinations that cannot train. Field-level parsing and coercion stay in `cola_core.config`."""

from __future__ import annotations

import math

from cola_core.config import Config, ConfigError

_CHOICES = {
    "model.vae_logsnr": None,  # checked below
    "optim.name": ("adamw", "muon"),
    "objective.t_sampling": ("logit_normal", "uniform"),
    "train.latent_evolution": ("joint", "fixed_vae", "scratch", "interval"),
    "train.device": ("cpu", "cuda"),
    "train.precision": ("fp32", "bf16"),
    "sampler.solver": ("euler", "heun"),
    "sampler.remasking": ("low_confidence", "random"),
    "data.ingest": ("split", "strided"),
}


def validate(cfg: Config) -> Config:
    """Check cross-field constraints and the family's `check_config`; raise ConfigError naming the first problem."""
    from cola_core.registry import get_family  # lazy: the registry imports cola_core.presets, which imports this module

    m, o, t, s = cfg.model, cfg.objective, cfg.train, cfg.sampler
    flat = cfg.flat()
    for key, choices in _CHOICES.items():
        if choices is not None and flat[key] not in choices:
            raise ConfigError(f"{key}={flat[key]!r} must be one of {', '.join(choices)}")
    if m.vae_logsnr != "learned":
        if not m.vae_logsnr.startswith("fixed:"):
            raise ConfigError(f"model.vae_logsnr={m.vae_logsnr!r} must be 'learned' or 'fixed:<value>'")
        try:
            v = float(m.vae_logsnr.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"model.vae_logsnr={m.vae_logsnr!r}: the value after 'fixed:' is not a number") from None
        if not math.isfinite(v) or not -20 <= v <= 30:
            raise ConfigError(f"model.vae_logsnr={m.vae_logsnr!r}: the fixed logSNR must lie in [-20, 30]")
    positive = {
        "model.vocab_size": m.vocab_size,
        "model.dim": m.dim,
        "model.n_layers": m.n_layers,
        "model.n_heads": m.n_heads,
        "model.latent_dim": m.latent_dim,
        "model.patch_size": m.patch_size,
        "model.block_size": m.block_size,
        "model.vae_dim": m.vae_dim,
        "model.vae_layers": m.vae_layers,
        "model.vae_heads": m.vae_heads,
        "data.seq_len": cfg.data.seq_len,
        "train.steps": t.steps,
        "train.micro_batch_size": t.micro_batch_size,
        "train.grad_accum": t.grad_accum,
        "sampler.steps": s.steps,
        "sampler.block_length": s.block_length,
        "sampler.batch_size": s.batch_size,
        "optim.lr": cfg.optim.lr,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}={value} must be positive")
    for key, value in {
        "sampler.max_new_tokens": s.max_new_tokens,
        "optim.warmup_steps": cfg.optim.warmup_steps,
        "train.workers": t.workers,
        "model.ffn_hidden": m.ffn_hidden,
        "train.max_failures": t.max_failures,
    }.items():
        if value < 0:
            raise ConfigError(f"{key}={value} must be >= 0")
    if m.dim % m.n_heads or (m.dim // m.n_heads) % 2:
        raise ConfigError(f"model.dim={m.dim} must be divisible by model.n_heads={m.n_heads} into an even head size")
    if m.vae_dim % m.vae_heads or (m.vae_dim // m.vae_heads) % 2:
        raise ConfigError(
            f"model.vae_dim={m.vae_dim} must be divisible by model.vae_heads={m.vae_heads} into an even head size"
        )
    check_family = get_family(cfg.run.family).check_config
    if check_family is not None:
        check_family(cfg)
    for key, value in {
        "objective.mask_ratio": o.mask_ratio,
        "objective.clean_prefix_prob": o.clean_prefix_prob,
        "objective.llada_eps": o.llada_eps,
        "objective.llada_random_length_prob": o.llada_random_length_prob,
        "optim.min_lr_ratio": cfg.optim.min_lr_ratio,
        "sampler.top_p": s.top_p,
    }.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key}={value} must lie in [0, 1]")
    if o.noise_scale <= 0:
        raise ConfigError(f"objective.noise_scale={o.noise_scale} must be positive")
    if t.stage not in (1, 2):
        raise ConfigError(f"train.stage={t.stage} must be 1 or 2")
    if t.zero_stage not in (0, 1, 2, 3):
        raise ConfigError(f"train.zero_stage={t.zero_stage} must be 0, 1, 2 or 3")
    if cfg.optim.name == "muon" and t.workers > 0:
        raise ConfigError(
            "optim.name=muon trains in process only (train.workers=0): DeepSpeed flattens the parameters into "
            "ZeRO partitions, and Muon orthogonalises each weight matrix whole"
        )
    if t.vae_lr_ratio < 0:
        raise ConfigError(f"train.vae_lr_ratio={t.vae_lr_ratio} must be >= 0")
    if s.temperature < 0 or s.cfg < 0:
        raise ConfigError("sampler.temperature and sampler.cfg must be >= 0")
    return cfg
