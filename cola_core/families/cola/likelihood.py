"""A Cola ELBO estimate per token (nats), and the family's `eval_loss`.

ELBO(x) = log p(x | z0) + log p_prior(z0) - log q(z0 | x) with one posterior sample z0 ~ q.
The prior density comes from the block-causal flow through the instantaneous change of variables:
integrating dz/dt = v(z_t, t) from the data z0 (t = 0) to z1 (t = 1),
    log p_n(z0) = log N(z1; 0, I) + int_0^1 div v(z_t, t) dt,
where every block is conditioned on the clean earlier blocks. The 2L layout gives exactly those
conditionals at once (a noisy block sees clean blocks < b and itself only), so the Jacobian of the
noisy half is block-diagonal and one Hutchinson probe over the whole noisy half estimates the sum of
the per-block traces. The latent normalisation z_n = (z - shift) * scale contributes
N * sum_c log|scale_c|.

This is an *estimator*, not a strict bound: the ODE is discretised (Euler on a uniform grid), the
trace is estimated with random probes, and one posterior sample is used. It is unbiased only in
the limit of many steps; use it to compare runs evaluated with the same settings.
"""

from __future__ import annotations

import dataclasses

import math

import torch
import torch.nn.functional as F

from cola_core.config import Config
from cola_core.families.cola.config import cola_objective_config
from cola_core.families.cola.masks import two_l_mask
from cola_core.families.cola.flow import fm_branch
from cola_core.families.cola.model import ColaModel, eval_block_size
from cola_core.families.cola.objective import ColaObjective


def _std_normal_logpdf(z: torch.Tensor) -> torch.Tensor:
    """Sum over (T, C) of log N(z; 0, I) -> (B,)."""
    return (-0.5 * (z.pow(2) + math.log(2 * math.pi))).sum(dim=(1, 2))


def prior_log_density(
    model: ColaModel,
    z0: torch.Tensor,
    steps: int = 8,
    probes: int = 1,
    generator: torch.Generator | None = None,
    block_size: int | None = None,
) -> torch.Tensor:
    """log p_prior(z0) in the VAE latent space (B,), z0 (B, N, d) un-normalised, with blocks of `block_size`
    latents (None: `model.block_size`)."""
    assert model.dit is not None  # the prior of a Stage-2 model
    zn = model.normalize(z0).detach()
    B, n, _ = zn.shape
    device = zn.device
    mask = two_l_mask(n, block_size or model.block_size, device)
    pos = torch.arange(n, device=device)
    positions = torch.cat([pos, pos])  # (2n,)
    t_clean = torch.zeros(B, n, device=device)
    z, div_int = zn.clone(), torch.zeros(B, device=device, dtype=torch.float64)
    grid = torch.linspace(0.0, 1.0, steps + 1).tolist()
    for t0, t1 in zip(grid[:-1], grid[1:]):
        with torch.enable_grad():
            zg = z.detach().requires_grad_(True)
            x = torch.cat([zn, zg], dim=1)  # (B, 2n, d)
            t_all = torch.cat([t_clean, torch.full((B, n), t0, device=device)], dim=1)  # (B, 2n)
            v = model.dit(x, t_all, positions, mask)[:, n:]  # (B, n, d)
            div = torch.zeros(B, device=device, dtype=torch.float64)
            for i in range(probes):
                probe = torch.randint(0, 2, zg.shape, generator=generator, device=device).to(zg.dtype) * 2 - 1
                (vjp,) = torch.autograd.grad(v, zg, grad_outputs=probe, retain_graph=i < probes - 1)
                div += (vjp * probe).sum(dim=(1, 2)).double() / probes
        div_int += (t1 - t0) * div
        z = z + (t1 - t0) * v.detach()
    log_pn = _std_normal_logpdf(z).double() + div_int
    return (log_pn + n * torch.log(model.latent_scale.abs()).sum().double()).float()


def negative_elbo_terms(
    model: ColaModel,
    tokens: torch.Tensor,
    steps: int = 8,
    probes: int = 1,
    generator: torch.Generator | None = None,
    block_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """The negative ELBO per token split into `rec` + `rate` + `prior` (each (B,), nats per token).

    rec = -log p(x | z0); rate = KL(q || N(0, I)) (analytic); prior = the rest of KL(q || p_prior),
    i.e. E_q[log N(z0; 0, I) - log p_prior(z0)] (one-sample estimate): negative when the learned
    prior places the posterior latents better than a standard normal would.
    """
    B, L = tokens.shape
    with torch.no_grad():
        q = model.vae.encode(tokens)
        z0 = q.sample(generator)
        log_q = (-0.5 * ((z0 - q.mean).pow(2) / q.logvar.exp() + q.logvar + math.log(2 * math.pi))).sum(dim=(1, 2))
        rate = 0.5 * (q.mean.pow(2) + q.logvar.exp() - 1.0 - q.logvar).sum(dim=(1, 2))  # (B,)
        logits = model.vae.decode(z0)  # (B, L, V)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), tokens.flatten(), reduction="none")  # (B*L,)
        rec = ce.view(B, L).sum(1)  # (B, L) -> (B,)
    log_prior = prior_log_density(model, z0, steps, probes, generator, block_size)
    return {"rec": rec / L, "rate": rate / L, "prior": (log_q - log_prior - rate) / L}


def cola_elbo_per_token(
    model: ColaModel, tokens: torch.Tensor, steps: int = 8, probes: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """ELBO estimate per token in nats (B,): [log p(x|z0) + log p_prior(z0) - log q(z0|x)] / L."""
    terms = negative_elbo_terms(model, tokens, steps, probes, generator)
    return -(terms["rec"] + terms["rate"] + terms["prior"])


@torch.no_grad()
def fm_loss_uniform(model: ColaModel, tokens: torch.Tensor, cfg: Config, block_size: int) -> float:
    """Flow-matching loss with t ~ U(0, 1) and no pinned prefixes, on posterior-mode latents.

    The training FM loss depends on the noise location it samples t from, so it cannot rank runs
    trained with different `noise_loc`; this one weighs every noise level the same and, under the
    eval loop's fixed RNG, draws the same t and noise for every run: the RQ1 / noise-schedule metric.
    """
    uniform = dataclasses.replace(cola_objective_config(cfg), t_sampling="uniform", clean_prefix_prob=0.0)
    zn = model.normalize(model.vae.encode(tokens).mode())  # (B, n, C)
    assert model.dit is not None  # a Stage-2 model
    return fm_branch(model.dit, zn, uniform, block_size).loss.item()


def cola_eval_loss(
    model: ColaModel, tokens: torch.Tensor, cfg: Config, elbo_steps: int = 8, elbo_sequences: int = 2
) -> dict[str, float]:
    """Held-out metrics: `eval_loss` (the stage's training loss), `rec_ce`, `recon_acc`; in Stage 2 also
    `fm_loss` and `elbo_nats_per_token` = the *negative* ELBO estimate per token (an NLL-style number,
    lower is better, comparable to AR's `nll_per_token`) on the first `elbo_sequences` sequences,
    with `elbo_steps` Euler steps and one Hutchinson probe, and its split `elbo_rec` + `elbo_rate` +
    `elbo_prior` (see `negative_elbo_terms`); Stage 1 reports `elbo_rec` and `elbo_rate` (KL(q || N(0, I)))
    over all its sequences. All at the evaluation block size (`eval_block_size`)."""
    block_size = eval_block_size(model, cfg)
    with torch.no_grad():
        out = ColaObjective(cfg, block_size)(model, tokens, 0)
    metrics = {"eval_loss": out.loss.item(), "rec_ce": out.metrics["rec_ce"], "recon_acc": out.metrics["recon_acc"]}
    if cfg.train.stage == 1:  # the rate and distortion of the VAE alone (Stage 2 adds the prior's term)
        metrics.update(elbo_rec=out.metrics["rec_ce"], elbo_rate=out.metrics["kl"])
    if cfg.train.stage == 2:
        metrics["fm_loss"] = out.metrics["fm_loss"]
        metrics["fm_loss_uniform"] = fm_loss_uniform(model, tokens, cfg, block_size)
        terms = negative_elbo_terms(model, tokens[:elbo_sequences], steps=elbo_steps, probes=1, block_size=block_size)
        metrics.update({f"elbo_{k}": v.mean().item() for k, v in terms.items()})
        metrics["elbo_nats_per_token"] = metrics["elbo_rec"] + metrics["elbo_rate"] + metrics["elbo_prior"]
    return metrics
