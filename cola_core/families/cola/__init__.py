"""Cola DLM: Text VAE + block-causal DiT prior with flow matching (DESIGN.md §3).

Public API:
* `build_cola_model(cfg)` -> `ColaModel` (`vae`, `dit`, `ref_encoder`, latent shift/scale buffers);
* `ColaObjective(cfg)` (Stage 1 / Stage 2 loss), `cola_param_groups`, `cola_lr_scale`;
* `prepare_latent_stats` (the family's `prepare` hook), `cola_eval_loss` / `cola_elbo_per_token`;
* `cola_diagnostics`: context gain, the ideal context-free loss, decoder and prior probes;
* `ColaSampler(model, cfg)`; `cola_param_counts`, `cola_flops_per_token`, `sampling_flops_per_token`;
* `check_cola_config`, `cola_preset_shape`, `cola_networks`: the config check, preset shape and timed networks;
* `ColaModelConfig` & co. (`cola_core.families.cola.config`): its config sections;
* `COLA_FORMAT`: the `cola` export format (VAE + DiT safetensors and the config).
"""

from cola_core.families.cola.accounting import cola_flops_per_token, cola_param_counts, sampling_flops_per_token
from cola_core.families.cola.config import COLA_SECTIONS
from cola_core.families.cola.diagnostics import cola_diagnostics
from cola_core.families.cola.export import COLA_FORMAT
from cola_core.families.cola.hooks import check_cola_config, cola_networks, cola_preset_shape
from cola_core.families.cola.likelihood import cola_elbo_per_token, cola_eval_loss
from cola_core.families.cola.model import (
    STAGE1_KEYS,
    ColaModel,
    build_cola_model,
    check_train_config,
    latent_stats_batches,
    needs_stage1,
    prepare_latent_stats,
)
from cola_core.families.cola.objective import ColaObjective, cola_lr_scale, cola_param_groups
from cola_core.families.cola.sampler import ColaSampler, build_cola_sampler
from cola_core.registry import FamilySpec, register_family

__all__ = [
    "COLA_FORMAT",
    "ColaModel",
    "ColaObjective",
    "ColaSampler",
    "build_cola_model",
    "check_cola_config",
    "cola_diagnostics",
    "cola_elbo_per_token",
    "cola_eval_loss",
    "cola_flops_per_token",
    "cola_lr_scale",
    "cola_networks",
    "cola_param_counts",
    "cola_param_groups",
    "cola_preset_shape",
    "prepare_latent_stats",
    "sampling_flops_per_token",
    "SPEC",
]

SPEC = register_family(
    FamilySpec(
        name="cola",
        build_model=build_cola_model,
        build_objective=ColaObjective,
        build_sampler=build_cola_sampler,
        count_params=cola_param_counts,
        flops_per_token=cola_flops_per_token,
        param_groups=cola_param_groups,
        lr_scale=cola_lr_scale,
        prepare=prepare_latent_stats,
        prepare_batches=latent_stats_batches,
        check_train_config=check_train_config,
        eval_loss=cola_eval_loss,
        diagnostics=cola_diagnostics,
        sampler_knobs=("steps", "cfg", "solver", "block_size", "temperature"),
        readable_metric="prior_context_err",
        result_fields=("train.stage", "train.latent_evolution"),
        ladder_overrides={"train.stage": 2},
        check_config=check_cola_config,
        preset_shape=cola_preset_shape,
        stages=(1, 2),
        needs_stage1=needs_stage1,
        stage1_keys=STAGE1_KEYS,
        networks=cola_networks,
        sections=COLA_SECTIONS,
        export_formats={"cola": COLA_FORMAT},
    )
)
