"""Autoregressive baseline: decoder-only transformer, next-token CE, KV-cache sampler."""

from cola_core.families.ar.accounting import ar_flops_per_token, ar_param_counts
from cola_core.families.ar.likelihood import ar_score_tokens
from cola_core.families.ar.model import build_ar_model
from cola_core.families.ar.objective import NextTokenLoss, ar_eval_loss
from cola_core.families.ar.sampler import ARSampler
from cola_core.config import TokenModelConfig
from cola_core.nn.llama_export import llama_format
from cola_core.presets import matched_shape
from cola_core.registry import FamilySpec, register_family

SPEC = register_family(
    FamilySpec(
        name="ar",
        build_model=build_ar_model,
        build_objective=lambda cfg: NextTokenLoss(),
        build_sampler=lambda model, cfg: ARSampler(model, cfg.sampler, cfg.model.eos_id),
        count_params=ar_param_counts,
        flops_per_token=ar_flops_per_token,
        eval_loss=ar_eval_loss,
        readable_metric="nll_per_token",
        score_tokens=ar_score_tokens,
        preset_shape=matched_shape,
        sections={"model": TokenModelConfig},
        export_formats={"llama": llama_format("ar", build_ar_model)},
    )
)
