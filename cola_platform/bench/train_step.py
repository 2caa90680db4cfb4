"""Training-step throughput per family and preset, as a fraction of the machine's GEMM peak.

One step is what the training loop does: forward + backward of the family's objective on a
(micro_batch, seq_len) batch of the preset, then clipping and the AdamW update (`LocalEngine`), on
random weights and random tokens (speed does not depend on either). Model FLOP/s come from the exact
accounting (`FlopsPerToken.train`, attention counted dense as the kernels compute it), so
`fraction_of_gemm_peak` is the share of the measured fp32 matmul rate the step turns into model FLOPs;
the GEMM is also re-measured right before each row (`local_gemm_peak`), since a shared machine's
rate drifts by several per cent over minutes.
Cola is measured on its joint Stage-2 step (VAE + DiT + frozen reference encoder).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from cola_core.presets import resolve_config
from cola_core.registry import get_family
from cola_core.train.engine import LocalEngine
from cola_core.train.objective_module import ObjectiveModule, named_param_groups
from cola_platform.bench.measure import gemm_peak, repeat

log = logging.getLogger(__name__)
SPECIAL_IDS = {"model.eos_id": 0, "model.pad_id": 1, "model.mask_id": 2}


def _engine(family: str, preset: str, vocab_size: int, compile_model: bool = False):
    """A family's LocalEngine at `preset` on random weights, a random batch, and the group lrs."""
    cfg = resolve_config(
        family,
        preset,
        {"model.vocab_size": vocab_size, "train.stage": 2, "train.compile": compile_model, **SPECIAL_IDS},
    )
    spec = get_family(family)
    torch.manual_seed(0)
    model = spec.build_model(cfg)
    module = ObjectiveModule(model, spec.build_objective(cfg))
    engine = LocalEngine(module, named_param_groups(spec, model, cfg, cfg.optim.weight_decay), cfg)
    batch, seq = cfg.train.micro_batch_size, cfg.data.seq_len
    tokens = torch.randint(3, vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0))
    return cfg, spec, engine, tokens, {name: cfg.optim.lr for name in engine.group_names}


def step_figures(
    family: str,
    preset: str,
    vocab_size: int,
    peak: float,
    repeats: int = 5,
    warmup: int = 2,
    compile_model: bool = False,
) -> dict[str, Any]:
    """Time `repeats` training steps of `family` at `preset`; tokens/s, model FLOP/s and fraction of `peak`."""
    cfg, spec, engine, tokens, lrs = _engine(family, preset, vocab_size, compile_model)
    batch, seq = tokens.shape

    def step() -> None:
        engine.forward_backward(tokens, 1000)
        engine.step(lrs)

    step()  # compiles, when asked, before anything is timed
    local_peak = gemm_peak(repeats=5)["flops_per_second"]  # the machine's state right now
    t = repeat(step, repeats=repeats, warmup=warmup)
    flops = spec.flops_per_token(cfg).train * batch * seq
    figures = {
        "family": family,
        "preset": cfg.run.preset,
        "compiled": compile_model,
        "micro_batch": batch,
        "seq_len": seq,
        "params": spec.count_params(cfg.model).total,
        "flops_per_step": flops,
        "tokens_per_second": batch * seq / t.median,
        "model_flops_per_second": flops / t.median,
        "fraction_of_gemm_peak": flops / t.median / peak,
        "local_gemm_peak": local_peak,
        "fraction_of_local_gemm_peak": flops / t.median / local_peak,
        "step_seconds": t.as_dict(),
    }
    log.info(
        "train %s %s%s: %.0f tok/s, %.1f%% of GEMM peak (%.1f%% of the peak measured just before; spread %.1f%%)",
        family,
        preset,
        " compiled" if compile_model else "",
        figures["tokens_per_second"],
        100 * figures["fraction_of_gemm_peak"],
        100 * figures["fraction_of_local_gemm_peak"],
        100 * t.spread,
    )
    return figures


def bench_train_steps(
    presets: list[str],
    families: list[str],
    vocab_size: int,
    peak: float,
    repeats: int = 5,
    compile_families: list[str] | None = None,
    profile: list[str] | None = None,
) -> dict[str, Any]:
    """Every family at every preset, keyed `family/preset`; the families in `compile_families` also
    under `torch.compile` at the last (largest) preset, keyed `family/preset/compiled`."""
    out: dict[str, Any] = {}
    for preset in presets:
        for family in families:
            out[f"{family}/{preset}"] = step_figures(family, preset, vocab_size, peak, repeats)
            if family in (compile_families or []) and preset == presets[-1]:
                out[f"{family}/{preset}/compiled"] = step_figures(
                    family, preset, vocab_size, peak, repeats, compile_model=True
                )
    if profile:
        out["profiles"] = {}
        for key in profile:
            family, preset = key.split("/")
            out["profiles"][key] = profile_step(family, preset, vocab_size)
    return out


def profile_step(family: str, preset: str, vocab_size: int, steps: int = 2, top: int = 12) -> dict[str, Any]:
    """`torch.profiler` over `steps` eager training steps: where the time goes, by aten op (self time)."""
    from torch.profiler import ProfilerActivity, profile

    _, _, engine, tokens, lrs = _engine(family, preset, vocab_size)
    for _ in range(2):  # warm-up
        engine.forward_backward(tokens, 1000)
        engine.step(lrs)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            engine.forward_backward(tokens, 1000)
            engine.step(lrs)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [
        {
            "op": e.key,
            "self_seconds_per_step": e.self_cpu_time_total / 1e6 / steps,
            "share": e.self_cpu_time_total / total,
            "calls_per_step": e.count / steps,
        }
        for e in ranked[:top]
    ]
    return {
        "family": family,
        "preset": preset,
        "steps": steps,
        "self_seconds_per_step": total / 1e6 / steps,
        "top_ops": rows,
    }
