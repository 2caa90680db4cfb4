"""LLaDA's config sections (`FamilySpec.sections`): the masked-diffusion loss and the semi-autoregressive
sampler (DESIGN.md §4); the model is the shared `TokenModelConfig`. No torch here."""

from __future__ import annotations

from dataclasses import dataclass

from cola_core.config import Config, ObjectiveConfig, SamplerConfig, TokenModelConfig, section_as
from cola_core.config_rules import non_negative, one_of, positive, unit_interval


@dataclass
class LLaDAObjectiveConfig(ObjectiveConfig):
    """The 1/t-weighted masked cross-entropy."""

    llada_eps: float = 1e-3
    """Mask probability is (1 - eps) * t + eps."""
    llada_random_length_prob: float = 0.01
    """Fraction of batches cut to a random shorter length."""

    def check(self) -> None:
        unit_interval(self, "objective", ("llada_eps", "llada_random_length_prob"))


@dataclass
class LLaDASamplerConfig(SamplerConfig):
    """Semi-autoregressive low-confidence remasking."""

    steps: int = 16
    """Denoising steps in total."""
    cfg: float = 4.0
    """Classifier-free guidance weight (0 disables)."""
    block_length: int = 8
    """Semi-autoregressive block length."""
    remasking: str = "low_confidence"
    """`low_confidence` or `random`."""

    def check(self) -> None:
        super().check()
        positive(self, "sampler", ("steps", "block_length"))
        non_negative(self, "sampler", ("cfg",))
        one_of(self, "sampler", "remasking", ("low_confidence", "random"))


LLADA_SECTIONS: dict[str, type] = {
    "model": TokenModelConfig,
    "objective": LLaDAObjectiveConfig,
    "sampler": LLaDASamplerConfig,
}


def llada_objective_config(cfg: Config) -> LLaDAObjectiveConfig:
    """The objective section of a LLaDA config, typed."""
    return section_as(cfg.objective, LLaDAObjectiveConfig)


def llada_sampler_config(cfg: Config) -> LLaDASamplerConfig:
    """The sampler section of a LLaDA config, typed."""
    return section_as(cfg.sampler, LLaDASamplerConfig)
