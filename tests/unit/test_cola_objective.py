"""Stage-1 objective pieces: the BERT-style mask pass and the Gaussian terms."""

from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence

from cola_core.families.cola.objective import ColaObjective, kl_gaussians, kl_to_standard_normal, negative_entropy
from cola_core.families.cola.vae import Posterior
from test_cola_helpers import tiny_cfg, tiny_model


def _encoder_inputs(model) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []

    def grab(module: torch.nn.Module, args: tuple) -> None:
        seen.append(args[0].clone())

    model.vae.encoder.register_forward_pre_hook(grab)
    return seen


def test_stage1_mask_pass_corrupts_the_encoder_input_and_scores_masked_positions() -> None:
    cfg = tiny_cfg(stage=1, mask_id=2)
    cfg.objective.mask_ratio = 0.25
    model = tiny_model(cfg)
    tokens = torch.randint(3, 40, (16, 16))
    seen = _encoder_inputs(model)
    captured: dict[str, torch.Tensor] = {}

    def perfect_where_masked(mod, args, out):
        if "mask" not in captured:  # first decode: the clean pass
            captured["mask"] = torch.zeros(1)
            return out
        masked = seen[-1] == 2  # (B, L)
        good = torch.nn.functional.one_hot(tokens, 40).float() * 1e4
        return torch.where(masked[..., None], good, torch.zeros_like(out))

    model.vae.decoder.register_forward_hook(perfect_where_masked)
    out = ColaObjective(cfg)(model, tokens, 0)
    assert len(seen) == 2 and torch.equal(seen[0], tokens)
    masked = seen[1] == 2
    assert abs(masked.float().mean().item() - 0.25) < 0.06
    assert torch.equal(seen[1][~masked], tokens[~masked])
    assert out.metrics["mask_ce"] < 1e-3, "CE only at masked positions (elsewhere the logits are uninformative)"
    assert set(out.metrics) == {"rec_ce", "kl", "mask_ce", "recon_acc", "logsnr"}


def test_no_mask_pass_when_lambda_mask_is_zero() -> None:
    cfg = tiny_cfg(stage=1)
    cfg.objective.lambda_mask = 0.0
    model = tiny_model(cfg)
    seen = _encoder_inputs(model)
    out = ColaObjective(cfg)(model, torch.randint(0, 40, (2, 16)), 0)
    assert len(seen) == 1 and out.metrics["mask_ce"] == 0.0


def test_gaussian_terms_match_torch_distributions() -> None:
    torch.manual_seed(0)
    q = Posterior(torch.randn(2, 5, 4), torch.randn(2, 5, 4))
    r = Posterior(torch.randn(2, 5, 4), torch.randn(2, 5, 4))
    nq, nr = Normal(q.mean, (0.5 * q.logvar).exp()), Normal(r.mean, (0.5 * r.logvar).exp())
    p = 2
    want_kl = kl_divergence(nq, Normal(0.0, 1.0)).sum(-1).mean() / p
    assert torch.allclose(kl_to_standard_normal(q, p), want_kl, atol=1e-5)
    assert torch.allclose(negative_entropy(q, p), -nq.entropy().sum(-1).mean() / p, atol=1e-5)
    assert torch.allclose(kl_gaussians(q, r, p), kl_divergence(nq, nr).sum(-1).mean() / p, atol=1e-4)
    assert kl_gaussians(q, q, p).abs() < 1e-7
