"""LLaDA sampler (`generate.py` of ML-GSAI/LLaDA): semi-autoregressive blocks of masked-token denoising.

The generation region starts as `<mask>` tokens and is filled block by block (left to right). Each
block gets the same number of steps; at each step the model predicts every position (x0 = argmax of
Gumbel-perturbed logits), and the k most confident still-masked positions of the current block are
committed, k following the linear schedule of `num_transfer_tokens`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from cola_core.config import SamplerConfig
from cola_core.families.llada.model import LLaDAModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnmaskEvent:
    """One denoising step of one prompt: which positions were committed (offsets into the generation)."""

    prompt: int
    block: int
    step: int
    """Step index within this prompt's generation, counted over all blocks."""
    positions: list[int]


def num_transfer_tokens(mask_count: torch.Tensor | int, steps: int) -> torch.Tensor:
    """Tokens to unmask per step: floor(M / steps), plus one on the first M mod steps steps.

    mask_count (B,) or an int -> (B, steps) int64 (B = 1 for an int). Each row sums to M.
    """
    counts = torch.as_tensor(mask_count, dtype=torch.int64).reshape(-1, 1)  # (B, 1)
    base, remainder = counts // steps, counts % steps
    extra = torch.arange(steps, device=counts.device)[None, :] < remainder  # (B, steps)
    return base + extra.to(torch.int64)


def plan_steps(steps: int, num_blocks: int, block_length: int) -> int:
    """Steps per block. The reference asserts `steps % num_blocks == 0`; here a remainder rounds the
    per-block count *up* (logged), and the count is capped at `block_length` (a step that unmasks
    nothing would only waste a forward pass)."""
    per_block = math.ceil(steps / num_blocks)
    if per_block * num_blocks != steps:
        log.info("llada sampler: %d steps over %d blocks rounded up to %d per block", steps, num_blocks, per_block)
    return max(1, min(per_block, block_length))


def add_gumbel_noise(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Gumbel-max perturbation in float64; argmax of the result samples softmax(logits / temperature).

    The reference computes exp(logits) / (-log u) ** temperature; its log, logits - temperature *
    log(-log u), has the same argmax without overflowing exp. temperature 0 returns the logits unchanged.
    """
    if temperature <= 0:
        return logits
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64, device=logits.device)
    return logits.to(torch.float64) - temperature * torch.log(-torch.log(u))


class LLaDASampler:
    """Semi-autoregressive masked-diffusion sampler; prompts are decoded one at a time (no padding)."""

    def __init__(self, model: LLaDAModel, scfg: SamplerConfig, mask_id: int, eos_id: int):
        if scfg.remasking not in ("low_confidence", "random"):
            raise ValueError(f"sampler.remasking={scfg.remasking!r} must be 'low_confidence' or 'random'")
        self.model, self.scfg, self.mask_id, self.eos_id = model, scfg, mask_id, eos_id

    @torch.no_grad()
    def generate(
        self, prompts: list[list[int]], max_new_tokens: int, trace: list[UnmaskEvent] | None = None
    ) -> list[list[int]]:
        """New ids per prompt, cut at the first EOS. When `trace` is a list, every step appends an `UnmaskEvent`."""
        device = next(self.model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.scfg.seed)
        return [self._one(p, max_new_tokens, gen, trace, i) for i, p in enumerate(prompts)]

    def _one(self, prompt: list[int], max_new_tokens: int, gen: torch.Generator,
             trace: list[UnmaskEvent] | None, index: int) -> list[int]:
        if max_new_tokens <= 0:
            return []
        bl = self.scfg.block_length
        num_blocks = math.ceil(max_new_tokens / bl)  # generation length rounded up to whole blocks
        per_block = plan_steps(self.scfg.steps, num_blocks, bl)
        P = len(prompt)
        device = next(self.model.parameters()).device
        x = torch.full((1, P + num_blocks * bl), self.mask_id, dtype=torch.long, device=device)  # (1, T)
        x[0, :P] = torch.tensor(prompt, dtype=torch.long, device=device)
        step = 0
        for b in range(num_blocks):
            lo, hi = P + b * bl, P + (b + 1) * bl
            schedule = num_transfer_tokens((x[0, lo:hi] == self.mask_id).sum(), per_block)[0]  # (per_block,)
            for k in schedule.tolist():
                if k > 0:
                    committed = self._step(x, P, lo, hi, k, gen)
                    if trace is not None:
                        trace.append(UnmaskEvent(index, b, step, sorted(p - P for p in committed)))
                step += 1
        out = x[0, P : P + max_new_tokens].tolist()
        return out[: out.index(self.eos_id)] if self.eos_id in out else out

    def _logits(self, x: torch.Tensor, prompt_len: int) -> torch.Tensor:
        """(1, T) -> (1, T, V); with cfg > 0 the unconditional pass masks the prompt: u + (w + 1)(c - u)."""
        w = self.scfg.cfg
        if w <= 0 or prompt_len == 0:
            return self.model(x)
        un_x = x.clone()
        un_x[:, :prompt_len] = self.mask_id
        cond, uncond = self.model(torch.cat([x, un_x], dim=0)).chunk(2, dim=0)  # 2 x (1, T, V)
        return uncond + (w + 1.0) * (cond - uncond)

    def _step(self, x: torch.Tensor, prompt_len: int, lo: int, hi: int, k: int, gen: torch.Generator) -> list[int]:
        """Commit the k most confident masked positions of x[:, lo:hi] in place; returns their indices."""
        logits = self._logits(x, prompt_len).to(torch.float64)  # (1, T, V)
        logits[..., self.mask_id] = float("-inf")  # never emit <mask> itself
        x0 = add_gumbel_noise(logits, self.scfg.temperature, gen).argmax(dim=-1)  # (1, T)
        if self.scfg.remasking == "low_confidence":
            confidence = logits.softmax(dim=-1).gather(-1, x0[..., None]).squeeze(-1)  # (1, T)
        else:
            confidence = torch.rand(x0.shape, generator=gen, dtype=torch.float64, device=x0.device)
        candidate = x == self.mask_id
        candidate[:, :lo] = False
        candidate[:, hi:] = False
        confidence = confidence.masked_fill(~candidate, float("-inf"))
        chosen = torch.topk(confidence[0], k).indices  # (k,)
        x[0, chosen] = x0[0, chosen]
        return chosen.tolist()
