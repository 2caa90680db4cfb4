"""Resolving a run's config against its data, and building the family's trainable module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from cola_core.config import Config, ConfigError
from cola_core.config_checks import validate
from cola_core.presets import resolve_config
from cola_core.registry import FamilySpec, get_family
from cola_core.train.objective_module import ObjectiveModule, named_param_groups
from cola_platform.data.manifest import Manifest, read_manifest
from cola_platform.errors import UserError


def data_overrides(data: str, manifest: Manifest) -> dict[str, Any]:
    """Config fields a prepared data directory decides: vocabulary, special ids, length, tokenizer."""
    return {
        "data.path": data,
        "data.seq_len": manifest.seq_len,
        "data.tokenizer_hash": manifest.tokenizer_hash,
        "model.vocab_size": manifest.vocab_size,
        "model.eos_id": manifest.special_tokens["eos"],
        "model.pad_id": manifest.special_tokens["pad"],
        "model.mask_id": manifest.special_tokens["mask"],
    }


def config_for_data(family: str, preset: str, data: str, overrides: dict[str, Any]) -> tuple[Config, Manifest]:
    """Preset + overrides, with vocabulary, special ids, sequence length and tokenizer hash from the manifest."""
    manifest = read_manifest(data)
    from_data = data_overrides(data, manifest)
    clash = {k for k in overrides if k in from_data and k != "data.path" and str(overrides[k]) != str(from_data[k])}
    if clash:
        raise ConfigError(f"{', '.join(sorted(clash))} come from the data manifest and cannot be overridden")
    return resolve_config(family, preset, {**from_data, **overrides}), manifest


def check_tokenizer(cfg: Config, expected_hash: str, what: str) -> None:
    """Refuse data whose tokenizer differs from the model's."""
    if expected_hash and cfg.data.tokenizer_hash and expected_hash != cfg.data.tokenizer_hash:
        raise UserError(
            f"tokenizer mismatch: {what} was trained with tokenizer {expected_hash[:12]}, but {cfg.data.path} "
            f"was prepared with {cfg.data.tokenizer_hash[:12]}; prepare the data with --tokenizer from that run"
        )


@dataclass
class Trainable:
    """A family's model wrapped with its objective, plus its optimizer groups."""

    spec: FamilySpec
    module: ObjectiveModule
    groups: list[dict]

    @property
    def model(self) -> nn.Module:
        return self.module.model


def build_trainable(cfg: Config) -> Trainable:
    """Build model + objective + AdamW groups for `cfg` (validated first)."""
    validate(cfg)
    spec = get_family(cfg.run.family)
    model = spec.build_model(cfg)
    module = ObjectiveModule(model, spec.build_objective(cfg))
    return Trainable(spec, module, named_param_groups(spec, model, cfg, cfg.optim.weight_decay))
