"""Prior and latent diagnostics: the ideal context-free loss, context gain, the probes, LLaDA's
fixed-ratio CE, and one way for every sampler to start an empty prompt."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cola_core.config import Config
from cola_core.families.cola.diagnostics import (
    cola_diagnostics,
    decoder_probe,
    fit_latent_marginal,
    ideal_context_free_velocity,
    velocity,
)
from cola_core.families.cola.dit import BlockCausalDiT
from cola_core.families.cola.flow import fm_branch, interpolate
from cola_core.families.cola.objective import reconstruction
from cola_core.families.llada.diagnostics import masked_ce_at_ratio
from cola_core.registry import get_family
from test_cola_helpers import tiny_cfg, tiny_model


@pytest.mark.parametrize("spread", [0.0, 0.3])
def test_ideal_context_free_estimate_equals_the_exact_loss(spread: float) -> None:
    """Latents of K known tokens, each N(c_k, spread^2 I): the estimate fitted on a sample of them
    equals the loss of the exact posterior mean under the true mixture, on the same t and noise."""
    gen = torch.Generator().manual_seed(0)
    K, d, B, n = 6, 4, 64, 32
    codebook = torch.randn(K, d, generator=gen) * 1.5
    probs = torch.tensor([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    idx = torch.multinomial(probs, B * n, replacement=True, generator=gen)
    z0 = (codebook[idx] + spread * torch.randn(B * n, d, generator=gen)).view(B, n, d)
    t = torch.rand(B, generator=gen)
    eps = torch.randn(z0.shape, generator=gen)
    z_t = interpolate(z0, eps, t)
    target = eps - z0
    marginal = fit_latent_marginal(z0.reshape(-1, d), idx)
    estimate = (ideal_context_free_velocity(z_t, t, marginal) - target).pow(2).mean()
    # exact: z_t | k ~ N((1 - t) c_k, ((1 - t)^2 spread^2 + t^2) I); E[z0 | z_t, k] by Gaussian conditioning
    a = (1 - t)[:, None, None, None]
    var_t = a.pow(2) * spread**2 + t[:, None, None, None].pow(2)  # (B, 1, 1, 1)
    diff = z_t[:, :, None, :] - a * codebook  # (B, n, K, d)
    post = (probs.log() - diff.pow(2).sum(-1) / (2 * var_t[..., 0])).softmax(-1)  # (B, n, K)
    cond = codebook + a * spread**2 / var_t * diff  # (B, n, K, d)
    z0_hat = (post[..., None] * cond).sum(2)  # (B, n, d)
    exact = ((z_t - z0_hat) / t[:, None, None] - target).pow(2).mean()
    assert estimate.item() == pytest.approx(exact.item(), rel=0.03)
    assert marginal.var == pytest.approx(spread**2, abs=0.01)
    assert exact.item() > 0.05  # the test is not vacuous: the marginal leaves real uncertainty


class ContextBlindDiT(BlockCausalDiT):
    """A DiT whose noisy queries never see the clean half, whatever mask it is given."""

    def forward(self, z, t, positions, mask, caches=None, commit=0):
        if mask is not None and mask.shape[0] == z.shape[1] and z.shape[1] % 2 == 0:
            n = z.shape[1] // 2
            mask = mask.clone()
            mask[n:, :n] = False
        return super().forward(z, t, positions, mask, caches, commit)


def test_context_gain_is_zero_when_the_context_attention_is_cut() -> None:
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    blind = ContextBlindDiT(cfg.model)
    blind.load_state_dict(model.dit.state_dict())
    model.dit = blind
    torch.manual_seed(0)
    out = cola_diagnostics(model, torch.randint(3, 40, (4, 16)), cfg)
    assert out["context_gain"] == pytest.approx(0.0, abs=1e-6)
    assert out["fm_ctx"] > 0
    assert out["prior_probe_gain"] == pytest.approx(0.0, abs=1e-6)  # same noise, same velocities, same tokens


def test_context_gain_is_positive_on_a_copy_the_previous_block_task() -> None:
    """Train a small DiT on latents whose every block repeats the previous one: with the context the
    later blocks are known, without it they are Gaussian noise."""
    cfg = tiny_cfg()
    cfg.objective.t_sampling, cfg.objective.clean_prefix_prob = "uniform", 0.0
    torch.manual_seed(0)
    dit = BlockCausalDiT(cfg.model)
    opt = torch.optim.AdamW(dit.parameters(), lr=3e-3)
    d, bs = cfg.model.latent_dim, cfg.model.block_size

    def batch(b: int) -> torch.Tensor:
        return torch.randn(b, 1, bs, d).expand(b, 4, bs, d).reshape(b, 4 * bs, d)  # (B, 4 blocks, bs, d) -> (B, n, d)

    for _ in range(200):
        loss = fm_branch(dit, batch(16), cfg.objective, bs).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model = tiny_model(cfg)
    model.dit = dit.eval()
    zn = batch(64)
    t = torch.rand(64)
    eps = torch.randn_like(zn)
    z_t = interpolate(zn, eps, t)
    with torch.no_grad():
        ctx = (velocity(model, zn, z_t, t, True) - (eps - zn)).pow(2).mean().item()
        free = (velocity(model, zn, z_t, t, False) - (eps - zn)).pow(2).mean().item()
    assert free - ctx > 0.3, (free, ctx)


def test_decoder_probe_at_zero_noise_is_the_reconstruction_accuracy() -> None:
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    tokens = torch.randint(3, 40, (4, 16))
    with torch.no_grad():
        mode = model.vae.encode(tokens).mode()
        _, acc = reconstruction(model, mode, tokens)
        assert decoder_probe(model, model.normalize(mode), tokens, 0.0) == pytest.approx(acc.item(), abs=1e-6)


def test_teacher_forced_block_decoding_equals_decoding_after_the_real_history() -> None:
    """`decode_blocks` gives block b exactly what the decoder gives [real blocks < b | block b]."""
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    torch.manual_seed(1)
    real, other = torch.randn(2, 16, 8), torch.randn(2, 16, 8)
    bs = cfg.model.block_size
    with torch.no_grad():
        together = model.vae.decoder.decode_blocks(real, other, bs)
        for b in range(16 // bs):
            alone = model.vae.decode(torch.cat([real[:, : b * bs], other[:, b * bs : (b + 1) * bs]], dim=1))
            torch.testing.assert_close(together[:, b * bs : (b + 1) * bs], alone[:, b * bs :], atol=1e-5, rtol=1e-4)


def test_cola_diagnostics_report_every_number() -> None:
    cfg = tiny_cfg()
    cfg.sampler.steps = 2
    out = cola_diagnostics(tiny_model(cfg), torch.randint(3, 40, (4, 16)), cfg)
    for key in (
        "fm_ctx",
        "fm_noctx",
        "context_gain",
        "fm_ideal_free",
        "dec_acc_s0.1",
        "dec_acc_s1",
        "prior_probe_acc",
        "prior_probe_err",
        "prior_probe_unigram_acc",
        "prior_free_acc",
        "prior_context_err",
    ):
        assert math.isfinite(out[key]), key
    assert out["prior_probe_err"] == pytest.approx(1 - out["prior_probe_acc"])
    assert out["prior_context_err"] == pytest.approx(1 - out["prior_probe_acc"] + out["prior_free_acc"])
    assert cola_diagnostics(tiny_model(tiny_cfg(stage=1)), torch.randint(3, 40, (4, 16)), cfg) == {}


class UnigramModel(nn.Module):
    """Predicts the same distribution `probs` at every position, whatever the input."""

    def __init__(self, probs: torch.Tensor):
        super().__init__()
        self.register_buffer("logits", probs.log())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*tokens.shape, -1)  # (B, L, V)


@pytest.mark.parametrize("ratio", [0.15, 0.5])
def test_llada_fixed_ratio_ce_of_a_unigram_model_is_the_unigram_entropy(ratio: float) -> None:
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(50, generator=gen) * 1.5, dim=0)
    tokens = torch.multinomial(probs, 64 * 256, replacement=True, generator=gen).view(64, 256)
    entropy = -(probs * probs.log()).sum().item()
    torch.manual_seed(0)
    ce = masked_ce_at_ratio(UnigramModel(probs), tokens, mask_id=0, ratio=ratio)
    assert ce == pytest.approx(entropy, rel=0.03)


def _family_cfg(family: str) -> Config:
    if family == "cola":
        cfg = tiny_cfg()
        cfg.sampler.steps = 2
    else:
        cfg = Config.for_family(family)
        cfg.model.vocab_size, cfg.model.dim, cfg.model.n_heads, cfg.data.seq_len = 40, 32, 4, 16
        cfg.sampler.cfg = 0.0
    cfg.model.eos_id, cfg.model.mask_id = 0, 2
    cfg.sampler.temperature = 1.0
    return cfg


@pytest.mark.parametrize("family", ["ar", "llada", "cola"])
def test_every_sampler_starts_an_empty_prompt_after_eos(family: str) -> None:
    """An empty prompt is the start of a document: exactly what the prompt [eos] gives."""
    cfg = _family_cfg(family)
    spec = get_family(family)
    torch.manual_seed(0)
    model = tiny_model(cfg) if family == "cola" else spec.build_model(cfg).eval()
    sampler = spec.build_sampler(model, cfg)
    assert sampler.generate([[]], 8) == sampler.generate([[cfg.model.eos_id]], 8)


def test_patch_keys_name_equal_token_tuples_alike() -> None:
    from cola_core.families.cola.diagnostics import patch_keys

    tokens = torch.tensor([[1, 2, 1, 2, 3, 4], [3, 4, 1, 2, 5, 5]])  # patches of 2, row-major like the latents
    keys = patch_keys(tokens, 2).tolist()
    assert keys[0] == keys[1] == keys[4] and keys[2] == keys[3] and len(set(keys)) == 3
    assert patch_keys(tokens, 1).tolist() == torch.unique(tokens.flatten(), return_inverse=True)[1].tolist()
