"""LLaDA sampler (`generate.py` of ML-GSAI/LLaDA): semi-autoregressive blocks of masked-token denoising.

The generation region starts as `<mask>` tokens and is filled block by block (left to right). Each
block gets the same number of steps; at each step the model predicts every position (x0 = argmax of
Gumbel-perturbed logits), and the k most confident still-masked positions of the current block are
committed, k following the linear schedule of `num_transfer_tokens`.

Prompts of equal length are denoised together: a batch x is (B, P + num_blocks * block_length),
every step is one forward for the whole batch, and each row commits its own top-k positions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import torch

from cola_core.families.llada.config import LLaDASamplerConfig
from cola_core.families.llada.model import LLaDAModel
from cola_core.sampling import Steps, cut_rows, document_starts, drain, length_groups, new_chunks

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
        log.debug("llada sampler: %d steps over %d blocks rounded up to %d per block", steps, num_blocks, per_block)
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
    """Semi-autoregressive masked-diffusion sampler. Prompts of equal length are decoded together as
    one (B, T) batch (`sampler.batch_size` at most); equal lengths need no padding, so batching is exact."""

    def __init__(self, model: LLaDAModel, scfg: LLaDASamplerConfig, mask_id: int, eos_id: int):
        if scfg.remasking not in ("low_confidence", "random"):
            raise ValueError(f"sampler.remasking={scfg.remasking!r} must be 'low_confidence' or 'random'")
        self.model, self.scfg, self.mask_id, self.eos_id = model, scfg, mask_id, eos_id

    @torch.no_grad()
    def generate(
        self, prompts: list[list[int]], max_new_tokens: int, trace: list[UnmaskEvent] | None = None
    ) -> list[list[int]]:
        """New ids per prompt (in the order of `prompts`), cut at the first EOS. When `trace` is a list,
        every step appends one `UnmaskEvent` per prompt, ordered by prompt and then by step."""
        device = next(self.model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.scfg.seed)
        outs: list[list[int]] = [[] for _ in prompts]
        events: list[UnmaskEvent] = []
        prompts = document_starts(prompts, self.eos_id)
        for group in length_groups(prompts, self.scfg.batch_size):
            batch = [prompts[i] for i in group]
            steps = self._steps(batch, group, max_new_tokens, gen, None if trace is None else events)
            for i, out in zip(group, drain(steps)):
                outs[i] = out
        if trace is not None:
            trace.extend(sorted(events, key=lambda e: e.prompt))  # stable: steps stay in order
        return outs

    @torch.no_grad()
    def stream(self, prompt: list[int], max_new_tokens: int) -> Iterator[list[int]]:
        """The new ids of one prompt block by block, each as soon as its last token is committed; they
        concatenate to `generate([prompt], max_new_tokens)[0]`."""
        device = next(self.model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.scfg.seed)
        yield from new_chunks(self._steps(document_starts([prompt], self.eos_id), [0], max_new_tokens, gen, None))

    def _steps(
        self,
        prompts: list[list[int]],
        indices: list[int],
        max_new_tokens: int,
        gen: torch.Generator,
        trace: list[UnmaskEvent] | None,
    ) -> Steps:
        """Denoise prompts of one common length together, a snapshot after every block; `indices` are
        their places in the caller's list."""
        if max_new_tokens <= 0:
            return [[] for _ in prompts]
        bl = self.scfg.block_length
        num_blocks = math.ceil(max_new_tokens / bl)  # generation length rounded up to whole blocks
        per_block = plan_steps(self.scfg.steps, num_blocks, bl)
        B, P = len(prompts), len(prompts[0])
        device = next(self.model.parameters()).device
        x = torch.full((B, P + num_blocks * bl), self.mask_id, dtype=torch.long, device=device)  # (B, T)
        if P:
            x[:, :P] = torch.tensor(prompts, dtype=torch.long, device=device)  # (B, P)
        step = 0
        for b in range(num_blocks):
            lo, hi = P + b * bl, P + (b + 1) * bl
            for k in self._block_schedule(x[:, lo:hi], per_block):
                if k > 0:
                    chosen = self._step(x, P, lo, hi, k, gen)  # (B, k) offsets into the block
                    if trace is not None:
                        for index, offsets in zip(indices, chosen.tolist()):
                            trace.append(UnmaskEvent(index, b, step, sorted(lo - P + o for o in offsets)))
                step += 1
            yield partial(cut_rows, x[:, P : min(hi, P + max_new_tokens)], self.eos_id)
        return cut_rows(x[:, P : P + max_new_tokens], self.eos_id)

    def _block_schedule(self, block: torch.Tensor, per_block: int) -> list[int]:
        """Tokens to commit at each step of a block (B, bl), the same for every row.

        Rows hold equal-length prompts and a block starts fully masked, so every row has the same
        mask count; the per-row schedule is computed anyway and checked to agree."""
        schedule = num_transfer_tokens((block == self.mask_id).sum(dim=1), per_block)  # (B, per_block)
        if not bool((schedule == schedule[:1]).all()):
            raise RuntimeError("llada sampler: rows of a batch disagree on the number of masked tokens")
        return schedule[0].tolist()

    def _logits(self, x: torch.Tensor, prompt_len: int, lo: int, hi: int) -> torch.Tensor:
        """(B, T) -> logits of the current block (B, hi - lo, V); with cfg > 0 the unconditional pass
        masks the prompt: u + (w + 1)(c - u). Only the block's positions go through the vocabulary head."""
        w, block = self.scfg.cfg, slice(lo, hi)
        if w <= 0 or prompt_len == 0:
            return self.model(x, block)
        un_x = x.clone()
        un_x[:, :prompt_len] = self.mask_id
        both = self.model(torch.cat([x, un_x], dim=0), block)  # (2B, bl, V)
        cond, uncond = both.chunk(2, dim=0)  # 2 x (B, bl, V)
        return uncond + (w + 1.0) * (cond - uncond)

    def _step(self, x: torch.Tensor, prompt_len: int, lo: int, hi: int, k: int, gen: torch.Generator) -> torch.Tensor:
        """Commit, in every row, the k most confident masked positions of x[:, lo:hi] in place.

        Returns the committed offsets into the block, (B, k) (not sorted)."""
        logits = self._logits(x, prompt_len, lo, hi).to(torch.float64)  # (B, bl, V)
        logits[..., self.mask_id] = float("-inf")  # never emit <mask> itself
        x0 = add_gumbel_noise(logits, self.scfg.temperature, gen).argmax(dim=-1)  # (B, bl)
        if self.scfg.remasking == "low_confidence":
            confidence = logits.softmax(dim=-1).gather(-1, x0[..., None]).squeeze(-1)  # (B, bl)
        else:
            confidence = torch.rand(x0.shape, generator=gen, dtype=torch.float64, device=x0.device)  # (B, bl)
        block = x[:, lo:hi]  # (B, bl), a view: writes land in x
        confidence = confidence.masked_fill(block != self.mask_id, float("-inf"))  # (B, bl)
        chosen = torch.topk(confidence, k, dim=-1).indices  # (B, k)
        block.scatter_(1, chosen, x0.gather(1, chosen))
        return chosen
