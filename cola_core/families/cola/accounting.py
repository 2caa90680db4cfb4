"""Exact parameter and FLOPs counts of the Cola family, from the config alone.

Parameters: `total` = VAE + DiT of the full Stage-2 model (the frozen reference encoder copy is not
counted); `vae` = encoder + decoder; `backbone` = the DiT; `non_embedding` = total minus the VAE's
vocabulary embedding and vocabulary head.

FLOPs per *data token* (one of the `seq_len` tokens of a training sequence):
* matmuls: 2 x weight-matrix entries per row they are applied to (embedding lookups are free);
* attention: 4 * T_keys * width per layer and query, counted dense, because SDPA computes the whole
  score matrix under a boolean mask;
* the encoder/decoder stacks run on N = L / p latents, so their per-latent cost is divided by p;
* Stage 2: the DiT runs on 2N latents (the 2L layout) with 2N keys; the per-token timestep MLP and the
  adaLN modulation run on every one of those latents;
* training = 3 x forward for trained parts (backward = 2 x forward), 1 x forward for frozen ones (the
  reference encoder; the whole VAE with `fixed_vae`); the masked second VAE pass when lambda_mask > 0.
Biases, norms, softmax and elementwise ops are ignored (what `FlopCounterMode` counts too).
"""

from __future__ import annotations

from cola_core.config import Config, ModelConfig
from cola_core.families.cola.config import ColaModelConfig, cola_model_config, cola_objective_config, cola_train_config
from cola_core.registry import FlopsPerToken, ParamCounts


def _stack_params(width: int, layers: int, ffn: int) -> int:
    """`TransformerStack`: per layer two RMSNorms, qkv + proj (no bias), SwiGLU; plus the final norm."""
    return layers * (2 * width + 4 * width * width + 3 * width * ffn) + width


def _head_channels(m: ColaModelConfig) -> int:
    return m.latent_dim if m.fixed_logsnr() is not None else 2 * m.latent_dim


def encoder_params(m: ColaModelConfig) -> int:
    """VAE encoder (embedding included)."""
    e, p = m.vae_dim, m.patch_size
    patch = (p * e * e + e) if p > 1 else 0
    head = e * _head_channels(m) + _head_channels(m)
    return m.vocab_size * e + patch + _stack_params(e, m.vae_layers, m.vae_ffn()) + head


def decoder_params(m: ColaModelConfig) -> int:
    """VAE decoder (vocabulary head included)."""
    e, p = m.vae_dim, m.patch_size
    unpatch = (e * p * e + p * e) if p > 1 else 0
    return (m.latent_dim * e + e) + _stack_params(e, m.vae_layers, m.vae_ffn()) + unpatch + e + e * m.vocab_size


def dit_params(m: ColaModelConfig) -> int:
    """Block-causal DiT: in-projection, timestep MLP, adaLN-Zero blocks, final layer."""
    D, f, d, hd = m.dim, m.backbone_ffn(), m.latent_dim, m.dim // m.n_heads
    t_embed = (m.timestep_freq_dim * D + D) + 2 * (D * D + D)
    attn = 4 * D * D + 4 * D + 4 * hd  # qkv + proj with biases; affine q/k LayerNorms over head_dim
    mlp = 2 * D * f + f + D
    ada = D * 6 * D + 6 * D
    final = 2 * D + (D * 2 * D + 2 * D) + (D * d + d)
    return (d * D + D) + t_embed + m.n_layers * (attn + mlp + ada) + final


def cola_param_counts(model_config: ModelConfig) -> ParamCounts:
    """Exact counts of the Stage-2 model built from a Cola model section (see the module docstring)."""
    m = cola_model_config(model_config)
    vae = encoder_params(m) + decoder_params(m)
    dit = dit_params(m)
    vocab = 2 * m.vocab_size * m.vae_dim
    return ParamCounts(total=vae + dit, non_embedding=vae + dit - vocab, vae=vae, backbone=dit)


def _stack_flops(width: int, layers: int, ffn: int, keys: int) -> float:
    """Forward FLOPs of one row through a `TransformerStack` with `keys` attention keys."""
    return layers * (2.0 * (4 * width * width + 3 * width * ffn) + 4.0 * keys * width)


def encoder_flops(m: ColaModelConfig, seq_len: int) -> float:
    """Encoder forward FLOPs per token."""
    e, p, n = m.vae_dim, m.patch_size, seq_len // m.patch_size
    patch = 2.0 * p * e * e if p > 1 else 0.0
    per_latent = patch + _stack_flops(e, m.vae_layers, m.vae_ffn(), n) + 2.0 * e * _head_channels(m)
    return per_latent / p


def decoder_flops(m: ColaModelConfig, seq_len: int) -> float:
    """Decoder forward FLOPs per token (vocabulary head included)."""
    e, p, n = m.vae_dim, m.patch_size, seq_len // m.patch_size
    unpatch = 2.0 * e * p * e if p > 1 else 0.0
    per_latent = 2.0 * m.latent_dim * e + _stack_flops(e, m.vae_layers, m.vae_ffn(), n) + unpatch
    return per_latent / p + 2.0 * e * m.vocab_size


def dit_row_flops(m: ColaModelConfig, keys: int) -> float:
    """DiT forward FLOPs of one latent row with `keys` attention keys (timestep MLP and adaLN included)."""
    D, f, d = m.dim, m.backbone_ffn(), m.latent_dim
    weights = d * D + (m.timestep_freq_dim * D + 2 * D * D) + m.n_layers * (4 * D * D + 2 * D * f + 6 * D * D)
    weights += 2 * D * D + D * d
    return 2.0 * weights + m.n_layers * 4.0 * keys * D


def _vae_parts(cfg: Config) -> tuple[float, float]:
    """(forward, train) FLOPs per token of the VAE side of the objective."""
    m, L = cola_model_config(cfg), cfg.data.seq_len
    enc, dec = encoder_flops(m, L), decoder_flops(m, L)
    passes = 2 if cola_objective_config(cfg).lambda_mask > 0 else 1
    if cfg.train.stage == 2 and cola_train_config(cfg).latent_evolution == "fixed_vae":
        return enc + dec, enc + dec  # frozen: one forward of each, no mask pass, no backward
    fwd, train = passes * (enc + dec), 3.0 * passes * (enc + dec)
    stage2_ref = (
        cfg.train.stage == 2
        and cola_objective_config(cfg).lambda_ref > 0
        and cola_train_config(cfg).latent_evolution in ("joint", "interval")
    )
    if stage2_ref:
        fwd, train = fwd + enc, train + enc  # the frozen reference encoder: forward only
    return fwd, train


def cola_flops_per_token(cfg: Config) -> FlopsPerToken:
    """Forward and training FLOPs per data token of the configured stage's objective."""
    m, L = cola_model_config(cfg), cfg.data.seq_len
    fwd, train = _vae_parts(cfg)
    if cfg.train.stage == 2:
        n = L // m.patch_size
        dit = 2.0 * n * dit_row_flops(m, 2 * n) / L  # 2N rows with 2N keys per L data tokens
        fwd, train = fwd + dit, train + 3.0 * dit
    return FlopsPerToken(forward=fwd, train=train)


def sampling_flops_per_token(cfg: Config, with_cfg: bool) -> float:
    """DiT FLOPs of one ODE step per generated token, averaged over a `seq_len`-token generation.

    The conditional pass of block b has (b + 1) * block_size keys (cache + block); averaged over the
    N / block_size blocks that is block_size * (blocks + 1) / 2. The unconditional CFG pass sees the
    block only (block_size keys). The VAE decode and the t = 0 cache update run once per block, not
    per step, and are not included.
    """
    m = cola_model_config(cfg)
    n = cfg.data.seq_len // m.patch_size
    blocks = max(1, n // m.block_size)
    per_latent = dit_row_flops(m, round(m.block_size * (blocks + 1) / 2))
    if with_cfg:
        per_latent += dit_row_flops(m, m.block_size)
    return per_latent / m.patch_size
