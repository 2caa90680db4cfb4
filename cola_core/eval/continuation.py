"""The `continuation` task: held-out text continued from prompts of every length remainder.

A model with p tokens per position (Cola's patch size) sees a prompt of length L end inside a patch when
r = L mod p > 0. This task measures what that costs on the run's own validation text, where even a small
model scores well above zero: from each held-out sequence it cuts p prompts, one per remainder, that end at
`base + r` for one `base` (a multiple of p in the sequence's second quarter, so the p prompts share their text
and differ only in where they stop), asks the sampler for p new tokens and scores the fraction of them equal
to the sequence's own next p tokens. Per remainder: mean, standard error and count; the paired design makes
the remainders' differences the cost of the boundary.
"""

from __future__ import annotations

import random
from typing import Callable

from cola_core.config_rules import ConfigError
from cola_core.eval.scoring import mean_with_stderr

GenerateIds = Callable[[list[list[int]], int], list[list[int]]]
"""(prompt ids, max new tokens) -> new ids per prompt (a family sampler's `generate`)."""


def continuation_cuts(length: int, patch_size: int, rng: random.Random) -> int:
    """A cut `base`: a multiple of p between a quarter and a half of `length`."""
    lo = max(1, -(-length // (4 * patch_size)))
    hi = max(lo, length // (2 * patch_size))
    return patch_size * rng.randint(lo, hi)


def run_continuation(generate: GenerateIds, sequences: list[list[int]], patch_size: int, seed: int) -> dict:
    """Score `generate` on p prompts per sequence (one per remainder r) -> {n, accuracy, stderr, new_tokens,
    by_remainder: {r: {n, accuracy, stderr}}}, accuracy = the mean fraction of the p new tokens that match."""
    p, rng = patch_size, random.Random(seed)
    prompts, targets, rems = [], [], []
    for seq in sequences:
        base = continuation_cuts(len(seq), p, rng)
        if base + 2 * p - 1 > len(seq):
            raise ConfigError(
                f"the continuation task needs held-out sequences of at least {4 * p} tokens for {p} tokens per "
                f"position; this data has {len(seq)}"
            )
        for r in range(p):
            prompts.append(seq[: base + r])
            targets.append(seq[base + r : base + r + p])
            rems.append(r)
    outs = generate(prompts, p)
    scores = [sum(a == b for a, b in zip(out, tgt)) / p for out, tgt in zip(outs, targets)]
    acc, se = mean_with_stderr(scores)
    by_rem = {}
    for r in range(p):
        mine = [s for s, rr in zip(scores, rems) if rr == r]
        m, e = mean_with_stderr(mine)
        by_rem[str(r)] = {"n": len(mine), "accuracy": m, "stderr": e}
    return {"n": len(scores), "accuracy": acc, "stderr": se, "new_tokens": p, "by_remainder": by_rem}
