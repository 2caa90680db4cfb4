"""What run names depend on besides a config's own fields: `Config.hash` names run directories, and these
tables keep the names of directories written by earlier versions of the config."""

from __future__ import annotations

from typing import Any

ADDED_FIELDS: dict[str, Any] = {
    "optim.name": "adamw",
    "train.block_size_probs": "",
    "sampler.block_size": 0,
    "model.boundary": "official",
    "sampler.partial_patch_candidates": 1,
}
"""Fields added after run directories were named by `Config.hash`, with the default they are hashed
away at (a run that leaves them at it keeps its old name)."""
FLAT_ERA_FIELDS: dict[str, Any] = {
    "model.dim": 128,
    "model.n_layers": 2,
    "model.n_heads": 4,
    "model.ffn_hidden": 0,
    "model.rope_theta": 10000.0,
    "model.tie_embeddings": False,
    "model.latent_dim": 16,
    "model.patch_size": 1,
    "model.block_size": 4,
    "model.vae_dim": 128,
    "model.vae_layers": 1,
    "model.vae_heads": 4,
    "model.vae_ffn_hidden": 0,
    "model.vae_logsnr": "learned",
    "model.timestep_freq_dim": 256,
    "objective.beta_kl": 1e-3,
    "objective.lambda_mask": 0.5,
    "objective.mask_ratio": 0.15,
    "objective.lambda_vae": 1.0,
    "objective.lambda_fm": 1.0,
    "objective.lambda_ref": 1.0,
    "objective.t_sampling": "logit_normal",
    "objective.noise_loc": 1.0,
    "objective.noise_scale": 1.0,
    "objective.clean_prefix_prob": 0.05,
    "objective.llada_eps": 1e-3,
    "objective.llada_random_length_prob": 0.01,
    "train.latent_evolution": "joint",
    "train.vae_lr_ratio": 1.0,
    "train.interval_steps": 50,
    "train.latent_stats_batches": 8,
    "sampler.steps": 16,
    "sampler.cfg": 4.0,
    "sampler.solver": "euler",
    "sampler.block_length": 8,
    "sampler.remasking": "low_confidence",
}
"""The fields of the one flat config every family shared until sections became per family, at the values
they had then (frozen: never edit). `Config.hash` fills in those a family lacks, so run directories named
then keep their names; `Config.from_dict` drops them from old config files of a family that lacks them."""
