"""Flow matching: the loss convention (via an oracle velocity model), time sampling, clean prefixes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cola_core.families.cola.config import ColaObjectiveConfig
from cola_core.families.cola.flow import clean_prefix_pins, fm_branch, interpolate, sample_t


class OracleVelocity(nn.Module):
    """Knows the 2L layout: recovers eps - z0 = (z_t - z0) / t from the clean and noisy halves."""

    def forward(self, x, t, positions, mask, *args, **kwargs):
        n = x.shape[1] // 2
        z0, zt, tn = x[:, :n], x[:, n:], t[:, n:, None]
        v = torch.where(tn > 0, (zt - z0) / tn.clamp_min(1e-12), torch.zeros_like(zt))
        return torch.cat([torch.zeros_like(v), v], dim=1)  # (B, 2n, C)


def test_fm_loss_is_zero_for_the_true_velocity_and_pinned_tokens_are_excluded() -> None:
    torch.manual_seed(0)
    ocfg = ColaObjectiveConfig(noise_loc=0.0, clean_prefix_prob=0.5)
    zn = torch.randn(8, 12, 6, dtype=torch.float64)
    out = fm_branch(OracleVelocity(), zn, ocfg, block_size=4, generator=torch.Generator().manual_seed(1))
    assert (~out.loss_mask).any(), "the test needs pinned positions"
    assert out.loss.item() < 1e-12
    # The pinned positions really were clean: their oracle velocity is 0 while the target eps - z0 is not.
    assert (out.v_pred[~out.loss_mask] == 0).all() and out.target[~out.loss_mask].abs().sum() > 0


def test_fm_loss_is_positive_for_a_wrong_velocity() -> None:
    zn = torch.randn(4, 8, 6)
    out = fm_branch(lambda x, t, p, m: torch.zeros_like(x), zn, ColaObjectiveConfig(), block_size=4)
    assert out.loss.item() > 0.5


@pytest.mark.parametrize("loc", [-1.0, 0.0, 1.0, 2.3])
def test_logit_normal_median_is_sigmoid_loc(loc: float) -> None:
    t = sample_t(40000, ColaObjectiveConfig(noise_loc=loc, noise_scale=1.0), torch.Generator().manual_seed(0))
    assert abs(t.median().item() - 1.0 / (1.0 + math.exp(-loc))) < 0.01
    assert t.min() > 0 and t.max() < 1


def test_uniform_time_sampling() -> None:
    t = sample_t(40000, ColaObjectiveConfig(t_sampling="uniform"), torch.Generator().manual_seed(0))
    assert abs(t.mean().item() - 0.5) < 0.01 and abs(t.median().item() - 0.5) < 0.01


def test_interpolation_endpoints() -> None:
    z0, eps = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(interpolate(z0, eps, torch.zeros(2)), z0)
    assert torch.allclose(interpolate(z0, eps, torch.ones(2)), eps)


def test_clean_prefix_pins_are_block_prefixes_with_the_right_rate() -> None:
    bs, prob = 4, 0.3
    pins = clean_prefix_pins(2000, 16, bs, prob, torch.Generator().manual_seed(0)).view(2000, 4, bs)  # (B, nb, bs)
    lengths = pins.sum(-1)
    assert (lengths <= bs - 1).all(), "every block keeps at least one loss token"
    assert torch.equal(pins, torch.arange(bs)[None, None] < lengths[..., None]), "pins are prefixes"
    assert abs((lengths > 0).float().mean().item() - prob) < 0.02
    assert not clean_prefix_pins(4, 8, 1, 1.0).any() and not clean_prefix_pins(4, 8, 4, 0.0).any()
