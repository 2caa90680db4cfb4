"""LLaDA's masked-diffusion objective (GUIDELINES.md of ML-GSAI/LLaDA).

Per sequence t ~ U(0, 1) and p_mask = (1 - eps) t + eps; every token is replaced by `<mask>`
independently with probability p_mask; the loss is sum over masked positions of CE / p_mask,
divided by B * L. Its expectation over t is an upper bound on the NLL per token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.registry import LossOutput


def mask_probability(t: torch.Tensor, eps: float) -> torch.Tensor:
    """p_mask = (1 - eps) * t + eps, elementwise."""
    return (1.0 - eps) * t + eps


def weighted_masked_ce(
    logits: torch.Tensor, tokens: torch.Tensor, masked: torch.Tensor, p_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, masked_ce): sum_masked CE / p_mask / (B * L), and the plain mean CE over masked tokens.

    logits (B, L, V); tokens, masked (bool) and p_mask (B, L). With nothing masked the loss is a
    differentiable zero and masked_ce is 0.
    """
    B, L = tokens.shape
    ce = F.cross_entropy(logits[masked].float(), tokens[masked], reduction="none")  # (n_masked,)
    loss = (ce / p_mask[masked]).sum() / (B * L)
    masked_ce = ce.mean().detach() if ce.numel() else torch.zeros(())
    return loss, masked_ce


class MaskedDiffusionLoss:
    """The training objective; draws t, the mask and the random-length cut from the torch RNG.

    Using the global torch RNG (not a private generator) keeps the draws inside the RNG state the
    training loop checkpoints, so resumes are exact. `sample_t` and `sample_mask` are methods so
    that tests can fix them.
    """

    def __init__(self, mask_id: int, eps: float = 1e-3, random_length_prob: float = 0.01):
        self.mask_id, self.eps, self.random_length_prob = mask_id, eps, random_length_prob

    def sample_t(self, batch: int, device: torch.device) -> torch.Tensor:
        """t ~ U(0, 1), one per sequence: (B,)."""
        return torch.rand(batch, device=device)

    def sample_mask(self, p_mask: torch.Tensor) -> torch.Tensor:
        """Independent Bernoulli(p_mask) per position: (B, L) bool."""
        return torch.rand(p_mask.shape, device=p_mask.device) < p_mask

    def maybe_cut(self, tokens: torch.Tensor) -> torch.Tensor:
        """With probability `random_length_prob`, keep only the first U[1, L] tokens of every sequence."""
        if self.random_length_prob > 0 and torch.rand(()).item() < self.random_length_prob:
            length = int(torch.randint(1, tokens.shape[1] + 1, ()).item())
            return tokens[:, :length]  # (B, length)
        return tokens

    def __call__(self, model: nn.Module, tokens: torch.Tensor, step: int = 0) -> LossOutput:
        """tokens (B, L) clean ids -> LossOutput(loss, {masked_ce, mask_frac})."""
        tokens = self.maybe_cut(tokens)
        B, L = tokens.shape
        p_mask = mask_probability(self.sample_t(B, tokens.device), self.eps)[:, None].expand(B, L)  # (B, L)
        masked = self.sample_mask(p_mask)
        noisy = torch.where(masked, torch.full_like(tokens, self.mask_id), tokens)
        logits = model(noisy)  # (B, L, V)
        loss, masked_ce = weighted_masked_ce(logits, tokens, masked, p_mask)
        return LossOutput(loss=loss, metrics={"masked_ce": float(masked_ce), "mask_frac": masked.float().mean().item()})
