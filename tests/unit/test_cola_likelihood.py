"""The ELBO estimator: change-of-variables sign and normalisation Jacobian, Hutchinson trace, eval_loss."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cola_core.families.cola.likelihood import cola_elbo_per_token, cola_eval_loss, prior_log_density
from cola_core.families.cola.masks import two_l_mask
from cola_core.families.cola.objective import ColaObjective
from test_cola_helpers import tiny_cfg, tiny_model


class Contraction(nn.Module):
    """v(z, t) = -c z on every row: the flow z_t = z0 (1 - c dt)^k, divergence -c per dimension."""

    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, x, t, positions, mask, *args, **kwargs):
        return -self.c * x


def _with_stats(model) -> None:
    with torch.no_grad():
        model.latent_shift.copy_(torch.linspace(-0.5, 0.5, 8))
        model.latent_scale.copy_(torch.linspace(0.5, 2.0, 8))


def test_prior_density_of_a_linear_flow_is_exact() -> None:
    model = tiny_model(tiny_cfg())
    _with_stats(model)
    model.dit = Contraction(0.7)
    z0 = torch.randn(3, 16, 8)
    steps = 5
    got = prior_log_density(model, z0, steps=steps)
    z1 = model.normalize(z0) * (1 - 0.7 / steps) ** steps
    log_n = (-0.5 * (z1.pow(2) + math.log(2 * math.pi))).sum((1, 2))
    want = log_n - 0.7 * 16 * 8 + 16 * torch.log(model.latent_scale).sum()
    assert torch.allclose(got, want, atol=1e-3)


def test_zero_velocity_gives_the_normalisation_gaussian() -> None:
    model = tiny_model(tiny_cfg())
    _with_stats(model)
    with torch.no_grad():
        model.dit.final.out.weight.zero_()
        model.dit.final.out.bias.zero_()
    z0 = torch.randn(2, 16, 8)
    got = prior_log_density(model, z0, steps=3)
    want = torch.distributions.Normal(model.latent_shift, 1.0 / model.latent_scale).log_prob(z0).sum((1, 2))
    assert torch.allclose(got, want, atol=1e-3)


def test_hutchinson_divergence_matches_the_exact_block_diagonal_trace() -> None:
    torch.manual_seed(0)
    model = tiny_model(tiny_cfg(block_size=2))
    n, d = 6, 8
    zn = torch.randn(1, n, d)
    positions = torch.cat([torch.arange(n), torch.arange(n)])
    t_all = torch.zeros(1, 2 * n)

    def v_of(z: torch.Tensor) -> torch.Tensor:
        return model.dit(torch.cat([zn, z.view(1, n, d)], 1), t_all, positions, two_l_mask(n, 2))[:, n:].flatten()

    jac = torch.autograd.functional.jacobian(v_of, zn.flatten())  # (n*d, n*d)
    v1 = v_of(zn.flatten()).view(1, n, d)
    log_n = (-0.5 * ((zn + v1).pow(2) + math.log(2 * math.pi))).sum()
    exact = log_n + torch.trace(jac)
    probes = 800  # one probe per batch row: the mean over rows is an 800-probe estimate
    est = prior_log_density(model, zn.expand(probes, n, d), steps=1, generator=torch.Generator().manual_seed(0)).mean()
    spread = jac.pow(2).sum().sqrt().item() * math.sqrt(2.0 / probes)  # ~ std of the estimator
    assert abs(est.item() - exact.item()) < 4 * spread + 1e-3


def test_elbo_and_eval_loss() -> None:
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    tokens = torch.randint(0, 40, (3, 16))
    elbo = cola_elbo_per_token(model, tokens, steps=2)
    assert elbo.shape == (3,) and torch.isfinite(elbo).all()
    with torch.no_grad():  # the loop's evaluate() runs under no_grad
        metrics = cola_eval_loss(model, tokens, cfg)
    assert set(metrics) == {
        "eval_loss",
        "rec_ce",
        "recon_acc",
        "fm_loss",
        "fm_loss_uniform",
        "elbo_nats_per_token",
        "elbo_rec",
        "elbo_rate",
        "elbo_prior",
    }
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["elbo_rec"] + metrics["elbo_rate"] + metrics["elbo_prior"] == pytest.approx(
        metrics["elbo_nats_per_token"]
    )
    assert metrics["elbo_rate"] > 0
    assert metrics["elbo_nats_per_token"] > 0, "reported as the negative ELBO (NLL-style)"
    stage1 = tiny_cfg(stage=1)
    m1 = tiny_model(stage1)
    s1 = cola_eval_loss(m1, tokens, stage1)
    assert set(s1) == {"eval_loss", "rec_ce", "recon_acc", "elbo_rec", "elbo_rate"}
    assert s1["elbo_rec"] == s1["rec_ce"] and s1["elbo_rate"] > 0, "the VAE's distortion and rate (KL to N(0, I))"


def test_fm_loss_uniform_does_not_depend_on_the_training_noise_location() -> None:
    from cola_core.families.cola.likelihood import fm_loss_uniform

    cfg = tiny_cfg()
    model = tiny_model(cfg)
    tokens = torch.randint(0, cfg.model.vocab_size, (2, 16))
    values = []
    for loc in (-1.0, 0.0, 2.5):
        cfg.objective.noise_loc = loc
        torch.manual_seed(3)
        values.append(fm_loss_uniform(model, tokens, cfg, model.block_size))
    assert values[0] == values[1] == values[2] > 0
    torch.manual_seed(3)
    cfg.objective.t_sampling = "logit_normal"
    trained_dist = ColaObjective(cfg)
    torch.manual_seed(3)
    assert trained_dist(model, tokens, 0).metrics["fm_loss"] != values[0]
