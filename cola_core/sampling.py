"""Turning logits into tokens (greedy, temperature, top-k, top-p), and what every family's sampler shares:
prompt batching, document starts, EOS cuts, and streaming.

Streaming: each sampler decodes a batch in a generator of steps (`_steps`) that yields a `Snapshot`
after every token (AR) or committed block (LLaDA, Cola) and returns the batch's result; `generate`
drains it (`drain`), `stream` turns the snapshots of a single prompt into the chunks each step adds
(`new_chunks`). One loop serves both, so streamed chunks concatenate to what `generate` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

import torch

Snapshot = Callable[[], list[list[int]]]
"""Every row's new tokens so far (cut at EOS and at the token budget), computed only when called."""
Steps = Generator[Snapshot, None, list[list[int]]]
"""A sampler's decoding of one batch: a snapshot per step, the rows' final new tokens as its return value."""
_Result = TypeVar("_Result")


def sample_logits(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """logits (..., V) -> token ids (...). temperature 0 is greedy."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the mass before it already reaches top_p (the first token always stays).
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])  # (N, V)
    ids = torch.multinomial(flat, 1, generator=generator)  # (N, 1)
    return ids.view(probs.shape[:-1])


def length_groups(prompts: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `prompts` grouped into batches of equal prompt length, at most `batch_size` each.

    Equal lengths let a sampler decode a batch exactly (no padding, no attention masks for pads);
    groups keep the order of first appearance, and indices within a group stay increasing.
    """
    by_length: dict[int, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(i)
    return [idx[j : j + batch_size] for idx in by_length.values() for j in range(0, len(idx), batch_size)]


def sorted_batches(prompts: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `prompts` sorted by prompt length (stable), cut into batches of at most `batch_size`.

    For a sampler that pads a batch to its longest prompt: prompts of any lengths share a batch, and
    sorting keeps the lengths within a batch close, so little is padded.
    """
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]


def document_starts(prompts: list[list[int]], eos_id: int) -> list[list[int]]:
    """Every sampler's prompts: an empty prompt becomes `[eos]`, the start of a new document.

    Training sequences are documents packed with EOS between them, so a document starts after EOS;
    a sampler that starts from nothing would begin mid-document, as most of its training blocks do.
    """
    return [list(p) if p else [eos_id] for p in prompts]


def cut_at_eos(row: list[int], eos_id: int) -> list[int]:
    """A generated row up to (not including) its first EOS."""
    return row[: row.index(eos_id)] if eos_id in row else row


def cut_rows(tokens: torch.Tensor, eos_id: int) -> list[list[int]]:
    """New tokens (B, n) -> one list per row, cut before its first EOS (a `Snapshot` with `functools.partial`)."""
    return [cut_at_eos(row, eos_id) for row in tokens.tolist()]


def drain(steps: Generator[Snapshot, None, _Result]) -> _Result:
    """Run a sampler's steps to the end and return their result (no snapshot is computed)."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def new_chunks(steps: Steps) -> Iterator[list[int]]:
    """The tokens each step adds to the first row's output (empty additions skipped), the last chunk
    completing the steps' result. Snapshots only ever extend the previous one: a committed token or
    block is never revised."""
    emitted = 0
    while True:
        try:
            row = next(steps)()[0]
        except StopIteration as stop:
            row = stop.value[0]
            if len(row) > emitted:
                yield row[emitted:]
            return
        if len(row) > emitted:
            yield row[emitted:]
            emitted = len(row)
