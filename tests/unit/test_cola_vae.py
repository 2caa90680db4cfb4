"""Text VAE: logSNR modes, patching round trip, strict causality, block-wise cached decoding."""

from __future__ import annotations

import pytest
import torch

from cola_core.families.cola.vae import TextVAE, measure_logsnr
from test_cola_helpers import tiny_cfg


@pytest.mark.parametrize("v", [-1.0, 1.5, 4.5])
def test_fixed_logsnr_is_measured(v: float) -> None:
    torch.manual_seed(0)
    vae = TextVAE(tiny_cfg(vae_logsnr=f"fixed:{v}").model)
    q = vae.encode(torch.randint(0, 40, (4, 16)))
    assert torch.all(q.logvar == -v)
    assert abs(measure_logsnr(q.mean, q.logvar).item() - v) < 0.2
    # Samples have the advertised noise level around the (LayerNorm'd, unit-power) mean.
    z = torch.stack([q.sample() for _ in range(64)])
    assert abs(measure_logsnr(q.mean, torch.log((z - q.mean).pow(2).mean(0))).item() - v) < 0.2


def test_learned_logsnr_head_and_clamp() -> None:
    torch.manual_seed(0)
    vae = TextVAE(tiny_cfg().model)
    assert vae.encoder.head.out_features == 2 * 8
    with torch.no_grad():
        vae.encoder.head.bias[8:] = 100.0
    q = vae.encode(torch.randint(0, 40, (2, 16)))
    assert q.logvar.max().item() == 20.0
    assert torch.allclose(q.mean.mean(-1), torch.zeros(2, 16), atol=1e-5), "non-affine LayerNorm on the mean"
    assert torch.allclose(q.mean.pow(2).mean(-1), torch.ones(2, 16), atol=0.15)


@pytest.mark.parametrize("p", [1, 2, 4])
def test_patch_round_trip_shapes(p: int) -> None:
    vae = TextVAE(tiny_cfg(patch_size=p).model)
    tokens = torch.randint(0, 40, (3, 16))
    q = vae.encode(tokens)
    assert q.mean.shape == q.logvar.shape == (3, 16 // p, 8)
    assert vae.decode(q.sample()).shape == (3, 16, 40)


@pytest.mark.parametrize("p", [1, 2])
def test_encoder_and_decoder_are_strictly_causal(p: int) -> None:
    torch.manual_seed(0)
    vae = TextVAE(tiny_cfg(patch_size=p).model).eval()
    tokens = torch.randint(0, 40, (1, 16))
    j = 3  # latent index
    changed = tokens.clone()
    changed[0, j * p + p - 1] = (changed[0, j * p + p - 1] + 1) % 40
    a, b = vae.encode(tokens).mean, vae.encode(changed).mean
    diff = (a - b).abs().amax(-1)[0]  # (N,)
    assert diff[:j].max() == 0 and diff[j] > 0
    z = torch.randn(1, 16 // p, 8)
    z2 = z.clone()
    z2[0, j] += 1.0
    ldiff = (vae.decode(z) - vae.decode(z2)).abs().amax(-1)[0]  # (L,)
    assert ldiff[: j * p].max() == 0 and ldiff[j * p : (j + 1) * p].min() > 0


def test_blockwise_cached_decoding_matches_full_decoding() -> None:
    torch.manual_seed(0)
    vae = TextVAE(tiny_cfg(patch_size=2).model).eval()
    z = torch.randn(1, 8, 8)
    full = vae.decode(z)
    caches = vae.decoder.new_cache()
    parts = [vae.decode(z[:, i : i + 4], caches, update_cache=True) for i in (0, 4)]
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
