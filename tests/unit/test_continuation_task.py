"""The held-out `continuation` task: p prompts per sequence, one per remainder, scored on the next p tokens."""

from __future__ import annotations

import random

import pytest

from cola_core.config_rules import ConfigError
from cola_core.eval.continuation import continuation_cuts, run_continuation
from cola_platform.evaluation import flat_metrics

SEQUENCES = [[random.Random(i).randrange(3, 50) for _ in range(32)] for i in range(20)]


def oracle(sequences):
    """A generator that knows the text: each prompt is a prefix of exactly one sequence here."""

    def generate(prompts, n):
        out = []
        for prompt in prompts:
            seq = next(s for s in sequences if s[: len(prompt)] == prompt)
            out.append(seq[len(prompt) : len(prompt) + n])
        return out

    return generate


def test_cuts_are_whole_patches_between_a_quarter_and_a_half():
    rng = random.Random(0)
    for p in (1, 2, 4):
        cuts = {continuation_cuts(64, p, rng) for _ in range(200)}
        assert all(c % p == 0 and 16 <= c <= 32 for c in cuts) and len(cuts) > 1


def test_a_perfect_continuer_scores_one_at_every_remainder():
    result = run_continuation(oracle(SEQUENCES), SEQUENCES, 4, seed=0)
    assert result["n"] == 80 and result["new_tokens"] == 4 and result["accuracy"] == 1.0
    assert set(result["by_remainder"]) == {"0", "1", "2", "3"}
    assert all(s["n"] == 20 and s["accuracy"] == 1.0 and s["stderr"] == 0.0 for s in result["by_remainder"].values())


def test_a_continuer_that_misreads_partial_patches_shows_the_gap_per_remainder():
    truth = oracle(SEQUENCES)

    def misaligned(prompts, n):  # the tokens that complete a partial patch are wrong, the rest right
        outs = truth(prompts, n)
        return [[-1] * (-len(pr) % 4) + out[-len(pr) % 4 :] for pr, out in zip(prompts, outs)]

    result = run_continuation(misaligned, SEQUENCES, 4, seed=0)
    by = {int(r): s["accuracy"] for r, s in result["by_remainder"].items()}
    assert by == pytest.approx({0: 1.0, 1: 0.25, 2: 0.5, 3: 0.75})
    record = {"tasks": {}, "continuation": result, "tokens_per_second": 1.0}
    flat = flat_metrics(record)
    assert flat["continuation_mod1_acc"] == pytest.approx(0.25) and flat["continuation_acc"] == pytest.approx(0.625)
    assert flat["continuation_mod3_acc_stderr"] == 0.0


def test_a_sequence_too_short_for_the_patch_size_is_an_error():
    with pytest.raises(ConfigError, match="at least 16 tokens for 4 tokens per position; this data has 5"):
        run_continuation(oracle(SEQUENCES), [[5, 6, 7, 8, 9]], 4, seed=0)
