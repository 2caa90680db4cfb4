"""LLaDA family: loss weighting, transfer schedule, semi-AR (batched) sampler, MC likelihood bound, accounting, loop."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from cola_core.config import Config
from cola_core.families.llada import LLaDASampler, MaskedDiffusionLoss, build_llada_model
from cola_core.families.llada.accounting import llada_flops_per_token, llada_param_counts
from cola_core.families.llada.likelihood import llada_eval_loss, mc_nll_bound, stratified_mask_counts
from cola_core.families.llada.sampler import UnmaskEvent, num_transfer_tokens, plan_steps
from cola_core.presets import resolve_config
from cola_core.registry import get_family
from token_model_helpers import MIXED_PROMPTS

V, EOS, PAD, MASK = 32, 0, 1, 2


def tiny_cfg(**overrides: Any) -> Config:
    """A small LLaDA config that runs in milliseconds on CPU."""
    cfg = Config.for_family("llada")
    m = cfg.model
    m.vocab_size, m.eos_id, m.pad_id, m.mask_id = V, EOS, PAD, MASK
    m.dim, m.n_layers, m.n_heads = 32, 2, 4
    cfg.data.seq_len = 16
    cfg.sampler.cfg = 0.0
    for key, value in overrides.items():
        section, name = key.split("__")
        setattr(getattr(cfg, section), name, value)
    return cfg


def random_model(cfg: Config, seed: int = 0, std: float = 0.3) -> nn.Module:
    """A model with large random weights, so its predictions are sharp and input-dependent."""
    torch.manual_seed(seed)
    model = build_llada_model(cfg)
    for p in model.parameters():
        if p.dim() >= 2:
            nn.init.normal_(p, std=std)
    return model.eval()


class StubModel(nn.Module):
    """Logits that ignore the input: `table` (T, V) broadcast over the batch."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table.clone(), requires_grad=False)

    def forward(self, tokens: torch.Tensor, logits_for: slice | None = None) -> torch.Tensor:
        logits = self.table[: tokens.shape[1]].expand(tokens.shape[0], -1, -1)  # (B, T, V)
        return logits if logits_for is None else logits[:, logits_for]


# --- objective ------------------------------------------------------------------------------------


class FixedDraws(MaskedDiffusionLoss):
    """The objective with t and the mask pinned."""

    def __init__(self, t: torch.Tensor, mask: torch.Tensor, eps: float):
        super().__init__(MASK, eps, random_length_prob=0.0)
        self.t, self.mask = t, mask

    def sample_t(self, batch: int, device: torch.device) -> torch.Tensor:
        return self.t

    def sample_mask(self, p_mask: torch.Tensor) -> torch.Tensor:
        return self.mask


def test_loss_matches_hand_computation() -> None:
    cfg = tiny_cfg()
    model = random_model(cfg)
    tokens = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])
    mask = torch.tensor([[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    t, eps = torch.tensor([0.5, 0.2]), 0.1
    out = FixedDraws(t, mask, eps)(model, tokens)

    noisy = tokens.clone()
    noisy[mask] = MASK
    logits = model(noisy)
    total, ces = 0.0, []
    for b in range(2):
        p = (1 - eps) * t[b].item() + eps  # 0.55 and 0.28
        for i in range(6):
            if mask[b, i]:
                ce = -torch.log_softmax(logits[b, i], dim=-1)[tokens[b, i]].item()
                ces.append(ce)
                total += ce / p
    assert out.loss.item() == pytest.approx(total / 12, rel=1e-5)
    assert out.metrics["masked_ce"] == pytest.approx(sum(ces) / len(ces), rel=1e-5)
    assert out.metrics["mask_frac"] == pytest.approx(4 / 12)


def test_default_draws_follow_the_torch_rng() -> None:
    """t ~ U(0,1) per row, then one uniform per position: the same draws reproduce the loss."""
    cfg = tiny_cfg()
    model = random_model(cfg)
    tokens = torch.randint(3, V, (3, 10))
    eps = 0.05
    torch.manual_seed(7)
    t = torch.rand(3)
    p = ((1 - eps) * t + eps)[:, None].expand(3, 10)
    mask = torch.rand(3, 10) < p
    expected = FixedDraws(t, mask, eps)(model, tokens).loss
    torch.manual_seed(7)
    got = MaskedDiffusionLoss(MASK, eps, random_length_prob=0.0)(model, tokens).loss
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_weighting_is_unbiased_for_a_uniform_model() -> None:
    """Uniform logits: every masked CE is ln V, and E[sum_masked 1/p / L] = 1, so the loss -> ln V."""
    torch.manual_seed(0)
    stub = StubModel(torch.zeros(16, V))
    out = MaskedDiffusionLoss(MASK, 1e-3, random_length_prob=0.0)(stub, torch.randint(3, V, (8000, 16)))
    assert out.loss.item() / math.log(V) == pytest.approx(1.0, abs=0.05)
    assert out.metrics["mask_frac"] == pytest.approx(0.5, abs=0.02)


def test_random_length_cut() -> None:
    seen: list[int] = []

    class Recorder(StubModel):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            seen.append(tokens.shape[1])
            return super().forward(tokens)

    stub, tokens = Recorder(torch.zeros(16, V)), torch.randint(3, V, (4, 16))
    torch.manual_seed(3)
    for _ in range(20):
        MaskedDiffusionLoss(MASK, 1e-3, random_length_prob=1.0)(stub, tokens)
    assert all(1 <= n <= 16 for n in seen) and len(set(seen)) > 3
    seen.clear()
    for _ in range(5):
        MaskedDiffusionLoss(MASK, 1e-3, random_length_prob=0.0)(stub, tokens)
    assert seen == [16] * 5


# --- sampler ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", range(1, 21))
def test_num_transfer_tokens_sums_and_balance(steps: int) -> None:
    counts = torch.arange(0, 41)
    schedule = num_transfer_tokens(counts, steps)  # (41, steps)
    assert schedule.shape == (41, steps)
    assert torch.equal(schedule.sum(dim=1), counts)
    assert int((schedule.max(dim=1).values - schedule.min(dim=1).values).max()) <= 1
    assert bool((schedule[:, :-1] >= schedule[:, 1:]).all())  # the remainder goes to the first steps


def test_plan_steps_rounds_up_and_caps() -> None:
    assert plan_steps(12, 3, 8) == 4
    assert plan_steps(10, 3, 8) == 4  # rounded up
    assert plan_steps(64, 2, 8) == 8  # capped at the block length


def _check_semi_ar(trace: list[UnmaskEvent], block_length: int, n_blocks: int, per_block: int) -> None:
    committed: set[int] = set()
    for event in trace:
        block_positions = set(range(event.block * block_length, (event.block + 1) * block_length))
        assert set(event.positions) <= block_positions, "unmasked outside the current block"
        earlier = set(range(event.block * block_length))
        assert earlier <= committed, f"block {event.block} started before the previous blocks were complete"
        assert not committed & set(event.positions), "a position was committed twice"
        committed |= set(event.positions)
    assert committed == set(range(n_blocks * block_length))
    assert [sum(e.block == b for e in trace) for b in range(n_blocks)] == [per_block] * n_blocks


@pytest.mark.parametrize("remasking,steps,temperature", [("low_confidence", 6, 0.0), ("random", 7, 1.0)])
def test_semi_autoregressive_order(remasking: str, steps: int, temperature: float) -> None:
    cfg = tiny_cfg(
        sampler__block_length=4, sampler__steps=steps, sampler__remasking=remasking, sampler__temperature=temperature
    )
    sampler = get_family("llada").build_sampler(random_model(cfg), cfg)
    trace: list[UnmaskEvent] = []
    sampler.generate([[5, 6, 7]], max_new_tokens=12, trace=trace)
    _check_semi_ar(trace, block_length=4, n_blocks=3, per_block=math.ceil(steps / 3))


def test_cfg_changes_the_output() -> None:
    cfg = tiny_cfg(sampler__block_length=8, sampler__steps=8)
    model = random_model(cfg, seed=1)
    prompts = [[5, 9, 13, 17, 21, 25], [3, 4, 3, 4, 3, 4]]
    plain = LLaDASampler(model, cfg.sampler, MASK, EOS).generate(prompts, 16)
    cfg.sampler.cfg = 2.0
    guided = LLaDASampler(model, cfg.sampler, MASK, EOS).generate(prompts, 16)
    assert plain != guided


def test_output_is_clean_and_cut_at_eos() -> None:
    """A stub that prefers <mask> everywhere (suppressed) and then token (j % 20) + 3, with EOS at offset 5."""
    prompt_len, gen = 4, 10
    table = torch.zeros(prompt_len + 12, V)
    for j in range(table.shape[0]):
        table[j, MASK] = 10.0
        table[j, (j % 20) + 3] = 5.0
    eos_at = prompt_len + 5
    cfg = tiny_cfg(sampler__block_length=4, sampler__steps=6)
    sampler = LLaDASampler(StubModel(table), cfg.sampler, MASK, EOS)
    free = sampler.generate([[7] * prompt_len], gen)[0]
    assert free == [(j % 20) + 3 for j in range(prompt_len, prompt_len + gen)]  # 12 generated, trimmed to 10
    table[eos_at, EOS] = 20.0
    cut = LLaDASampler(StubModel(table), cfg.sampler, MASK, EOS).generate([[7] * prompt_len], gen)[0]
    assert cut == free[:5]


def test_random_model_output_ids_are_valid() -> None:
    cfg = tiny_cfg(sampler__block_length=4, sampler__steps=8, sampler__temperature=1.0, sampler__cfg=1.0)
    outs = LLaDASampler(random_model(cfg), cfg.sampler, MASK, EOS).generate([[5, 6], [], [9] * 5], 10)
    assert len(outs) == 3
    for out in outs:
        assert len(out) <= 10 and all(0 <= i < V for i in out)
        assert MASK not in out and EOS not in out


def test_block_logits_equal_the_full_projection() -> None:
    """The sampler asks only for the current block's logits; they must be those of the full pass."""
    cfg = tiny_cfg()
    model = random_model(cfg)
    x = torch.randint(0, V, (3, 12), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model(x, slice(4, 8)), model(x)[:, 4:8], atol=1e-6)


def preset_sampler(eos_id: int = EOS, **overrides: Any) -> LLaDASampler:
    """The tiny preset (vocab 64) with sharp random weights, so a last-bit difference between batched
    and single-row matmuls cannot flip an argmax or a confidence ranking."""
    cfg = resolve_config(
        "llada", "tiny", {"model.vocab_size": 64, "sampler.block_length": 4, "sampler.steps": 6, **overrides}
    )
    return LLaDASampler(random_model(cfg), cfg.sampler, cfg.model.mask_id, eos_id)


def one_at_a_time(sampler: LLaDASampler, prompts: list[list[int]], n: int) -> tuple[list[list[int]], list[UnmaskEvent]]:
    """Reference: every prompt decoded alone in its own `generate` call, its trace renumbered to its index."""
    outs, trace = [], []
    for i, prompt in enumerate(prompts):
        alone: list[UnmaskEvent] = []
        outs.append(sampler.generate([prompt], n, alone)[0])
        trace += [UnmaskEvent(i, e.block, e.step, e.positions) for e in alone]
    return outs, trace


@pytest.mark.parametrize("batch_size", [2, 8])
@pytest.mark.parametrize("cfg_weight", [0.0, 2.0])
def test_batched_greedy_equals_one_prompt_at_a_time(batch_size: int, cfg_weight: float) -> None:
    """Greedy with low-confidence remasking is deterministic. (Random remasking draws its confidences
    from the seeded stream even at temperature 0, so it depends on the batching like sampling does.)"""
    sampler = preset_sampler(**{"sampler.batch_size": batch_size, "sampler.cfg": cfg_weight})
    reference, reference_trace = one_at_a_time(sampler, MIXED_PROMPTS, 10)
    assert len({tuple(r) for r in reference}) > 3, "outputs should depend on the prompt, or order is untested"
    orders = {tuple(tuple(e.positions) for e in reference_trace if e.prompt == i) for i in range(len(MIXED_PROMPTS))}
    assert len(orders) > 1, "unmasking orders should depend on the prompt, or the trace's rows are untested"
    trace: list[UnmaskEvent] = []
    assert sampler.generate(MIXED_PROMPTS, 10, trace) == reference
    assert trace == reference_trace  # one event per prompt per step, grouped by prompt as before
    for i in range(len(MIXED_PROMPTS)):
        _check_semi_ar([e for e in trace if e.prompt == i], block_length=4, n_blocks=3, per_block=2)


def test_batched_rows_are_cut_at_their_own_eos() -> None:
    """Pick as EOS a token that some rows emit mid-way: only those rows are cut."""
    free, _ = one_at_a_time(preset_sampler(), MIXED_PROMPTS, 10)
    eos = next(row[4] for row in free if row[4] not in row[:4])
    sampler = preset_sampler(eos_id=eos)
    reference, _ = one_at_a_time(sampler, MIXED_PROMPTS, 10)
    assert 4 in {len(r) for r in reference} and 10 in {len(r) for r in reference}
    assert sampler.generate(MIXED_PROMPTS, 10) == reference


@pytest.mark.parametrize("remasking", ["low_confidence", "random"])
def test_batched_sampling_is_seeded(remasking: str) -> None:
    sampler = preset_sampler(**{"sampler.temperature": 1.0, "sampler.remasking": remasking})
    prompts = MIXED_PROMPTS + [[5, 6, 7]] * 3
    first_trace: list[UnmaskEvent] = []
    first = sampler.generate(prompts, 10, first_trace)
    again_trace: list[UnmaskEvent] = []
    assert sampler.generate(prompts, 10, again_trace) == first and again_trace == first_trace
    assert len({tuple(r) for r in first[-3:]}) > 1  # equal prompts in one batch draw independently
    sampler.scfg.seed = 1
    assert sampler.generate(prompts, 10) != first


# --- likelihood -------------------------------------------------------------------------------------


def test_stratified_counts_cover_the_range() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        counts = stratified_mask_counts(16, 8, gen)
        assert counts.min() >= 1 and counts.max() <= 16 and len(set(counts.tolist())) == 8


def test_mc_bound_is_exact_for_a_uniform_model() -> None:
    """Uniform logits: each sample scores (L / n) * n * ln V, so the bound per token is ln V exactly."""
    seq = torch.randint(3, V, (12,))
    bound = mc_nll_bound(StubModel(torch.zeros(12, V)), seq, MASK, mc_num=16, batch_size=8, prompt_len=3)
    assert bound == pytest.approx(math.log(V), rel=1e-5)


def test_mc_bound_drops_after_training_on_the_sequence() -> None:
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = build_llada_model(cfg)
    seq = torch.randint(3, V, (16,))
    before = mc_nll_bound(model, seq, MASK, mc_num=32, batch_size=16, generator=torch.Generator().manual_seed(1))
    objective = MaskedDiffusionLoss(MASK, 1e-3, 0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = objective(model, seq[None].expand(16, -1)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = mc_nll_bound(model, seq, MASK, mc_num=32, batch_size=16, generator=torch.Generator().manual_seed(1))
    assert math.isfinite(before) and math.isfinite(after) and before > 0 and after > 0
    assert before == pytest.approx(math.log(V), rel=0.1)
    assert after < before - 0.5
    metrics = llada_eval_loss(model, seq[None].expand(4, -1), cfg)
    assert set(metrics) == {"eval_loss", "eval_masked_ce", "nll_bound_per_token"}
    assert all(math.isfinite(v) for v in metrics.values())


# --- accounting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [False, True])
def test_param_counts_match_the_model(tie: bool) -> None:
    cfg = tiny_cfg(model__tie_embeddings=tie, model__ffn_hidden=48)
    model = build_llada_model(cfg)
    counts = llada_param_counts(cfg.model)
    assert counts.total == sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("embed", "head")))
    assert counts.non_embedding == counts.total - embedding == counts.backbone


def test_train_flops_match_the_flop_counter() -> None:
    """FlopCounterMode counts matmuls (linear layers incl. the head) and, under the MATH SDPA backend,
    the attention bmm's, forward and backward; it ignores the embedding lookup, norms, softmax and CE,
    which the formula ignores too. (CPU's fused SDPA kernel is invisible to it, hence MATH.)"""
    cfg = tiny_cfg(data__seq_len=64, model__vocab_size=64)
    model = build_llada_model(cfg)
    objective = get_family("llada").build_objective(cfg)
    objective.random_length_prob = 0.0
    tokens = torch.randint(3, 64, (2, 64))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        objective(model, tokens).loss.backward()
    predicted = llada_flops_per_token(cfg).train * tokens.numel()
    assert predicted == pytest.approx(counter.get_total_flops(), rel=0.10)


# --- training loop ----------------------------------------------------------------------------------


class ListStream:
    """An endless in-memory BatchStream over a fixed list of batches."""

    def __init__(self, batches: list[torch.Tensor]):
        self.batches, self.position = batches, 0

    def next_batch(self) -> torch.Tensor:
        batch = self.batches[self.position % len(self.batches)]
        self.position += 1
        return batch

    def state(self) -> dict[str, Any]:
        return {"position": self.position}

    def load_state(self, state: dict[str, Any]) -> None:
        self.position = state["position"]


def test_run_loop_reduces_the_loss() -> None:
    from cola_core.train.engine import LocalEngine
    from cola_core.train.loop import LoopHooks, evaluate, run_loop
    from cola_core.train.objective_module import ObjectiveModule, named_param_groups

    cfg = tiny_cfg(
        train__steps=30,
        train__micro_batch_size=8,
        train__eval_every=0,
        train__log_every=10,
        optim__lr=1e-2,
        optim__warmup_steps=3,
    )
    spec = get_family("llada")
    torch.manual_seed(0)
    pattern = torch.arange(16) % 7 + 3  # a learnable periodic sequence
    batches = [torch.roll(pattern, s)[None].expand(8, -1).clone() for s in range(7)]
    module = ObjectiveModule(spec.build_model(cfg), spec.build_objective(cfg))
    engine = LocalEngine(module, named_param_groups(spec, module.model, cfg, cfg.optim.weight_decay), cfg)
    records: list[dict[str, Any]] = []
    before = evaluate(spec, engine, cfg, batches[:2])
    hooks = LoopHooks(on_record=[records.append])
    result = run_loop(cfg, spec, engine, ListStream(batches), lambda: batches[:2], hooks)
    assert result.steps == 30 and records
    assert result.eval["eval_loss"] < 0.7 * before["eval_loss"]
    assert result.eval["nll_bound_per_token"] < 0.7 * before["nll_bound_per_token"]
