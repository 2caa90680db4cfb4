"""AR family: causality, KV-cache equivalence, exact parameter and FLOPs counts."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from cola_core.config import Config, apply_overrides
from cola_core.families.ar.sampler import ARSampler
from cola_core.registry import get_family


def tiny_cfg(**over) -> Config:
    cfg = apply_overrides(Config(), {"model.vocab_size": 97, "model.dim": 32, "model.n_heads": 4, "model.n_layers": 2,
                                     "data.seq_len": 24, **over})
    cfg.run.family = "ar"
    return cfg


@pytest.fixture
def model():
    torch.manual_seed(0)
    return get_family("ar").build_model(tiny_cfg()).eval()


def test_future_tokens_do_not_change_past_logits(model):
    x = torch.randint(0, 97, (2, 24))
    y = x.clone()
    y[:, 15:] = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.allclose(a[:, :15], b[:, :15], atol=1e-5)
    assert not torch.allclose(a[:, 15:], b[:, 15:], atol=1e-3)


def test_cached_forward_matches_full_forward(model):
    x = torch.randint(0, 97, (1, 20))
    with torch.no_grad():
        full = model(x)
        caches = model.new_cache()
        parts = [model(x[:, :7], caches, update_cache=True), model(x[:, 7:8], caches, update_cache=True),
                 model(x[:, 8:], caches, update_cache=True)]
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


@pytest.mark.parametrize("temperature,top_k,top_p", [(0.0, 0, 1.0), (0.8, 20, 0.9)])
def test_sampler_with_and_without_cache_agree(model, temperature, top_k, top_p):
    cfg = tiny_cfg(**{"sampler.temperature": temperature, "sampler.top_k": top_k, "sampler.top_p": top_p})
    prompts = [[5, 6, 7], [9]]
    fast = ARSampler(model, cfg.sampler, eos_id=0, use_cache=True).generate(prompts, 16)
    slow = ARSampler(model, cfg.sampler, eos_id=0, use_cache=False).generate(prompts, 16)
    assert fast == slow
    assert all(0 < len(o) <= 16 and all(0 <= t < 97 for t in o) for o in fast)


@pytest.mark.parametrize("tie", [False, True])
def test_param_count_matches_built_model(tie):
    cfg = tiny_cfg(**{"model.tie_embeddings": tie, "model.ffn_hidden": 40})
    spec = get_family("ar")
    counts = spec.count_params(cfg.model)
    model = spec.build_model(cfg)
    assert counts.total == sum(p.numel() for p in model.parameters())
    emb = model.embed.weight.numel() + (0 if tie else model.head.weight.numel())
    assert counts.non_embedding == counts.total - emb


def test_flops_per_token_matches_flop_counter():
    """FlopCounterMode counts matmuls (incl. the head) and SDPA under the MATH backend; the
    embedding lookup and elementwise ops count zero on both sides."""
    cfg = tiny_cfg()
    spec = get_family("ar")
    module = spec.build_model(cfg)
    objective = spec.build_objective(cfg)
    tokens = torch.randint(0, 97, (3, cfg.data.seq_len))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        objective(module, tokens, 0).loss.backward()
    measured_per_token = counter.get_total_flops() / tokens.numel()
    predicted = spec.flops_per_token(cfg).train
    assert predicted == pytest.approx(measured_per_token, rel=0.10)
