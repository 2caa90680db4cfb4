"""LLaDA baseline: bidirectional mask predictor, 1/t-weighted masked CE, semi-autoregressive sampler."""

from cola_core.families.llada.config import LLADA_SECTIONS, llada_objective_config, llada_sampler_config
from cola_core.families.llada.accounting import llada_flops_per_token, llada_param_counts
from cola_core.families.llada.diagnostics import llada_diagnostics
from cola_core.families.llada.likelihood import llada_eval_loss, llada_score_tokens
from cola_core.families.llada.model import build_llada_model
from cola_core.families.llada.objective import MaskedDiffusionLoss
from cola_core.families.llada.sampler import LLaDASampler
from cola_core.config import Config
from cola_core.nn.llama_export import llama_format
from cola_core.presets import matched_shape
from cola_core.registry import FamilySpec, register_family


def build_llada_objective(cfg: Config) -> MaskedDiffusionLoss:
    """The training objective of a LLaDA config."""
    o = llada_objective_config(cfg)
    return MaskedDiffusionLoss(cfg.model.mask_id, o.llada_eps, o.llada_random_length_prob)


SPEC = register_family(
    FamilySpec(
        name="llada",
        build_model=build_llada_model,
        build_objective=build_llada_objective,
        build_sampler=lambda model, cfg: LLaDASampler(
            model, llada_sampler_config(cfg), cfg.model.mask_id, cfg.model.eos_id
        ),
        count_params=llada_param_counts,
        flops_per_token=llada_flops_per_token,
        eval_loss=llada_eval_loss,
        diagnostics=llada_diagnostics,
        sampler_knobs=("steps", "block_length", "cfg", "remasking", "temperature"),
        readable_metric="masked_ce_15",
        score_tokens=llada_score_tokens,
        preset_shape=matched_shape,
        sections=LLADA_SECTIONS,
        export_formats={"llama": llama_format("llada", build_llada_model, bidirectional=True)},
    )
)
