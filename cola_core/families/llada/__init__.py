"""LLaDA baseline: bidirectional mask predictor, 1/t-weighted masked CE, semi-autoregressive sampler."""

from cola_core.families.llada.accounting import llada_flops_per_token, llada_param_counts
from cola_core.families.llada.diagnostics import llada_diagnostics
from cola_core.families.llada.likelihood import llada_eval_loss, llada_score_tokens
from cola_core.families.llada.model import build_llada_model
from cola_core.families.llada.objective import MaskedDiffusionLoss
from cola_core.families.llada.sampler import LLaDASampler
from cola_core.nn.llama_export import llama_format
from cola_core.presets import matched_shape
from cola_core.registry import FamilySpec, register_family

SPEC = register_family(
    FamilySpec(
        name="llada",
        build_model=build_llada_model,
        build_objective=lambda cfg: MaskedDiffusionLoss(
            cfg.model.mask_id, cfg.objective.llada_eps, cfg.objective.llada_random_length_prob
        ),
        build_sampler=lambda model, cfg: LLaDASampler(model, cfg.sampler, cfg.model.mask_id, cfg.model.eos_id),
        count_params=llada_param_counts,
        flops_per_token=llada_flops_per_token,
        eval_loss=llada_eval_loss,
        diagnostics=llada_diagnostics,
        sampler_knobs=("steps", "block_length", "cfg", "remasking", "temperature"),
        readable_metric="masked_ce_15",
        score_tokens=llada_score_tokens,
        preset_shape=matched_shape,
        export_formats={"llama": llama_format("llada", build_llada_model, bidirectional=True)},
    )
)
