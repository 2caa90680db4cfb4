"""The `cola` export format: the Text VAE and the DiT prior as safetensors files, plus our config.

    vae.safetensors   `model.vae` state dict (encoder.*, decoder.*)
    dit.safetensors   `model.dit` state dict, plus `latent_shift` and `latent_scale` (Stage 2 only:
                      the DiT works on normalised latents (z - shift) * scale)
    config.json       the run's `Config` (`run.init_from` cleared: the files hold every weight)

Stage 2's frozen reference encoder is a training-only copy and is left out. `read_cola_export`
rebuilds the model from config.json and loads both files strictly.
"""

from __future__ import annotations

import copy

from torch import nn

from cola_core.config import Config, ConfigError
from cola_core.export import ExportFiles, ExportFormat, tensor_copy
from cola_core.families.cola.model import ColaModel

_STATS = ("latent_shift", "latent_scale")


def write_cola_export(model: nn.Module, cfg: Config) -> ExportFiles:
    """ColaModel -> vae.safetensors, dit.safetensors (when it has a DiT) and config.json; the model is untouched."""
    if not isinstance(model, ColaModel):
        raise TypeError(f"the cola format exports a ColaModel, not {type(model).__name__}")
    tensors = {"vae.safetensors": {k: tensor_copy(v) for k, v in model.vae.state_dict().items()}}
    if model.dit is not None:
        dit = {k: tensor_copy(v) for k, v in model.dit.state_dict().items()}
        dit.update({name: tensor_copy(getattr(model, name)) for name in _STATS})
        tensors["dit.safetensors"] = dit
    saved = copy.deepcopy(cfg)
    saved.run.init_from = ""
    return ExportFiles(tensors=tensors, json={"config.json": saved.to_dict()})


def read_cola_export(files: ExportFiles) -> tuple[Config, nn.Module]:
    """The files of `write_cola_export` -> (config, ColaModel in eval mode with every exported weight)."""
    cfg = Config.from_dict(files.json["config.json"])
    has_dit = "dit.safetensors" in files.tensors
    if has_dit != (cfg.train.stage == 2):
        raise ConfigError(f"a Stage-{cfg.train.stage} Cola export {'has' if has_dit else 'lacks'} dit.safetensors")
    model = ColaModel(cfg, with_dit=has_dit, with_ref=False)
    model.vae.load_state_dict(files.tensors["vae.safetensors"])
    if model.dit is not None:
        dit = dict(files.tensors["dit.safetensors"])
        for name in _STATS:
            getattr(model, name).copy_(dit.pop(name))
        model.dit.load_state_dict(dit)
    return cfg, model.eval()


COLA_FORMAT = ExportFormat(
    description="Cola VAE + DiT safetensors with the run's config (read back by this project)",
    write=write_cola_export,
    read=read_cola_export,
)
