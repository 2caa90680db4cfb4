"""Does the prior model text? Cola's prior and latent diagnostics (computed at every evaluation).

All numbers are per held-out batch, under the caller's RNG (the eval loop fixes it):

* `fm_ctx` / `fm_noctx`: flow-matching loss under t ~ U(0, 1) on posterior-mode latents, with the
  clean context blocks visible and with them cut from the attention (same t, same noise);
  `context_gain` = fm_noctx - fm_ctx. A prior that models text gains from its context; one that
  learned only token frequencies does not.
* `fm_ideal_free`: the loss of the ideal *context-free* denoiser on the same latents, t and noise:
  it knows only the marginal of one latent, so its velocity is E[v | z_t] = (z_t - E[z0 | z_t]) / t
  with E[z0 | z_t] the posterior mean under that marginal. The marginal is estimated from the
  batch's latents as a mixture with one Gaussian per token (patch) they encode: token frequencies,
  mean latents and a pooled within-token variance (a plain empirical sample would either memorise
  the query or miss its rare tokens). `fm_ctx` below it means the prior beats any model of
  single-latent frequencies.
* `dec_acc_s{σ}`: decoder token accuracy on normalised mode latents plus σ N(0, I) noise (how much
  prior error the decoder tolerates).
* `prior_probe_acc`: every block sampled from the prior (ODE from noise, the sampler's steps and
  guidance) given the *real* earlier blocks, decoded after the real history, scored against the real
  tokens (`prior_probe_err` = 1 - acc); `prior_probe_unigram_acc` is what a unigram sample scores
  (sum_v p_v^2 on the batch).
* `prior_free_acc`: the same probe with the prior's context cut (same initial noise, no guidance),
  decoded the same way; `prior_probe_gain` = prior_probe_acc - prior_free_acc is what the prior's
  use of its context adds to the decoded tokens, and `prior_context_err` = 1 - prior_probe_gain is
  the family's readable metric: 1 for a prior that ignores its context, lower as it uses it. The
  difference cancels what the decoder gets right on its own (a barely trained decoder maps any
  latent to frequent tokens, which lifts `prior_probe_acc` without any prior skill).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cola_core.config import Config
from cola_core.families.cola.config import cola_sampler_config
from cola_core.families.cola.flow import fm_mse, interpolate
from cola_core.families.cola.masks import two_l_mask
from cola_core.families.cola.model import ColaModel, eval_block_size

DECODER_SIGMAS = (0.1, 0.3, 0.5, 1.0)


def velocity(
    model: ColaModel, zn: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor, context: bool, block_size: int | None = None
) -> torch.Tensor:
    """DiT velocity (B, n, d) on the noisy half of the 2L layout [zn clean | z_t at per-sequence t (B,)], with
    blocks of `block_size` latents (None: `model.block_size`)."""
    B, n, _ = zn.shape
    pos = torch.arange(n, device=zn.device)
    t_all = torch.cat([torch.zeros(B, n, device=zn.device), t[:, None].expand(B, n)], dim=1)  # (B, 2n)
    mask = two_l_mask(n, block_size or model.block_size, zn.device, context=context)
    assert model.dit is not None  # a Stage-2 model (callers return early for a Stage-1 one)
    return model.dit(torch.cat([zn, z_t], dim=1), t_all, torch.cat([pos, pos]), mask)[:, n:]  # (B, n, d)


@dataclass(frozen=True)
class LatentMarginal:
    """The marginal of one latent as a mixture over what it encodes: component k (one token, or one
    patch of tokens) has weight `weights[k]` and is N(`means[k]`, `var` I) (one pooled within-key
    variance)."""

    weights: torch.Tensor
    """(K,) component probabilities (key frequencies)."""
    means: torch.Tensor
    """(K, d) mean latent of each key."""
    var: float
    """Pooled within-key variance per channel (0 when every key was seen once)."""


def fit_latent_marginal(latents: torch.Tensor, keys: torch.Tensor) -> LatentMarginal:
    """Fit the mixture to latents (P, d) whose keys (P,) say which token (patch) each one encodes."""
    uniq, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    d = latents.shape[1]
    means = torch.zeros(len(uniq), d, dtype=latents.dtype).index_add_(0, inverse, latents) / counts[:, None]
    spread = (latents - means[inverse]).pow(2).sum()  # within-key sum of squares
    dof = (counts - 1).sum().item() * d
    return LatentMarginal(
        weights=counts.to(latents.dtype) / counts.sum(), means=means, var=spread.item() / dof if dof else 0.0
    )


def ideal_context_free_velocity(z_t: torch.Tensor, t: torch.Tensor, marginal: LatentMarginal) -> torch.Tensor:
    """E[v | z_t] (B, n, d) for z0 drawn from `marginal` alone (no context, no neighbours).

    z_t = (1 - t) z0 + t eps, so given key k, z_t ~ N((1 - t) m_k, s_t^2 I) with
    s_t^2 = (1 - t)^2 var + t^2, E[z0 | z_t, k] = m_k + (1 - t) var / s_t^2 (z_t - (1 - t) m_k),
    p(k | z_t) ∝ w_k exp(-|z_t - (1 - t) m_k|^2 / (2 s_t^2)), and v = eps - z0 = (z_t - z0) / t.
    """
    B, n, d = z_t.shape
    tt = t.clamp_min(1e-4)[:, None, None]  # (B, 1, 1)
    s2 = (1 - tt).pow(2) * marginal.var + tt.pow(2)  # (B, 1, 1)
    centres = (1 - tt)[..., None] * marginal.means  # (B, 1, K, d)
    sq = (z_t[:, :, None, :] - centres).pow(2).sum(-1)  # (B, n, K)
    post = (marginal.weights.log() - sq / (2 * s2)).softmax(dim=-1)  # (B, n, K)
    shrink = (1 - tt) * marginal.var / s2  # (B, 1, 1)
    z0_hat = post @ marginal.means + shrink * (z_t - (1 - tt) * (post @ marginal.means))  # (B, n, d)
    return (z_t - z0_hat) / tt


def patch_keys(tokens: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, L) tokens -> (B*L/p,) one integer key per patch: equal keys for equal token tuples."""
    patches = tokens.reshape(-1, patch_size)  # (B*n, p)
    return torch.unique(patches, dim=0, return_inverse=True)[1]


@torch.no_grad()
def prior_sample_teacher_forced(
    model: ColaModel,
    zn: torch.Tensor,
    steps: int,
    guidance: float,
    noise: torch.Tensor | None = None,
    context: bool = True,
    block_size: int | None = None,
) -> torch.Tensor:
    """Every block sampled from the prior given the real earlier blocks of `zn` (B, n, d), all at once:
    Euler on a uniform grid from t = 1 to 0, starting at `noise` (default: fresh N(0, I)), with
    guidance v_u + w (v_c - v_u) -> (B, n, d). `context=False` cuts the earlier blocks (and guidance)."""
    B = zn.shape[0]
    z = torch.randn_like(zn) if noise is None else noise.clone()
    grid = torch.linspace(1.0, 0.0, steps + 1).tolist()
    for t0, t1 in zip(grid[:-1], grid[1:]):
        t = torch.full((B,), t0, device=zn.device)
        v = velocity(model, zn, z, t, context, block_size)
        if context and guidance != 1.0:
            v_u = velocity(model, zn, z, t, False, block_size)
            v = v_u + guidance * (v - v_u)
        z = z + (t1 - t0) * v
    return z


def decoder_probe(model: ColaModel, zn: torch.Tensor, tokens: torch.Tensor, sigma: float) -> float:
    """Token accuracy of decoding normalised latents `zn` (B, n, d) plus sigma N(0, I) noise."""
    return token_accuracy(model.vae.decode(model.denormalize(zn + sigma * torch.randn_like(zn))), tokens)


def token_accuracy(logits: torch.Tensor, tokens: torch.Tensor) -> float:
    """Share of positions whose argmax is the token."""
    return (logits.argmax(-1) == tokens).float().mean().item()


def unigram_sample_accuracy(tokens: torch.Tensor) -> float:
    """Accuracy of guessing each token by a draw from the batch's unigram distribution: sum_v p_v^2."""
    p = torch.bincount(tokens.flatten()).double() / tokens.numel()
    return p.pow(2).sum().item()


@torch.no_grad()
def cola_diagnostics(model: ColaModel, tokens: torch.Tensor, cfg: Config) -> dict[str, float]:
    """The module docstring's numbers for one batch (B, L) at the evaluation block size (`eval_block_size`);
    empty for a Stage-1 model (no prior)."""
    if model.dit is None:
        return {}
    bs = eval_block_size(model, cfg)
    zn = model.normalize(model.vae.encode(tokens).mode())  # (B, n, d)
    B, n, d = zn.shape
    t = torch.rand(B, device=zn.device)
    eps = torch.randn_like(zn)
    z_t = interpolate(zn, eps, t)
    target = eps - zn
    every = torch.ones(B, n, dtype=torch.bool, device=zn.device)
    fm_ctx = fm_mse(velocity(model, zn, z_t, t, True, bs), target, every).item()
    fm_noctx = fm_mse(velocity(model, zn, z_t, t, False, bs), target, every).item()
    marginal = fit_latent_marginal(zn.reshape(B * n, d), patch_keys(tokens, model.patch_size))
    ideal = fm_mse(ideal_context_free_velocity(z_t, t, marginal), target, every).item()
    out = {"fm_ctx": fm_ctx, "fm_noctx": fm_noctx, "context_gain": fm_noctx - fm_ctx, "fm_ideal_free": ideal}
    for sigma in DECODER_SIGMAS:
        out[f"dec_acc_s{sigma:g}"] = decoder_probe(model, zn, tokens, sigma)
    s, noise = cola_sampler_config(cfg), torch.randn_like(zn)

    def probe(context: bool) -> float:
        sampled = prior_sample_teacher_forced(model, zn, s.steps, s.cfg, noise, context, bs)
        logits = model.vae.decoder.decode_blocks(model.denormalize(zn), model.denormalize(sampled), bs)
        return token_accuracy(logits, tokens)

    out["prior_probe_acc"], out["prior_free_acc"] = probe(context=True), probe(context=False)
    out["prior_probe_err"] = 1.0 - out["prior_probe_acc"]
    out["prior_probe_gain"] = out["prior_probe_acc"] - out["prior_free_acc"]
    out["prior_context_err"] = 1.0 - out["prior_probe_gain"]
    out["prior_probe_unigram_acc"] = unigram_sample_accuracy(tokens)
    return out
