"""Storyworld generation quality: real continuations score perfectly, salad and fragments do not."""

import random

import pytest

from cola_core.data.storyworld import generate_story
from cola_core.data.storyworld.tasks import eval_seed
from cola_core.eval.quality import distinct_n, quality_prompts, ratio_stderr, score_quality, self_bleu


def real_continuations(prompts):
    gens = []
    for i, p in enumerate(prompts):
        story = generate_story(eval_seed("sw-quality", 0, i))
        gens.append(" " + " ".join(story.sentences[2:]) if p else story.text)
    return gens


def test_real_stories_are_valid_grammatical_and_consistent():
    prompts = quality_prompts(12, seed=0)
    q = score_quality(prompts, real_continuations(prompts))
    assert q.valid == 1.0 and q.grammatical == 1.0 and q.consistent == 1.0
    assert q.distinct_2 > 0.5 and q.self_bleu < 0.5


def test_salad_fragments_and_spliced_continuations_fail():
    prompts = quality_prompts(12, seed=0)
    real = real_continuations(prompts)
    rng = random.Random(0)
    words = " ".join(real).split()
    salad = [" " + " ".join(rng.sample(words, 25)) + "." for _ in prompts]
    assert score_quality(prompts, salad).grammatical < 0.2
    fragments = [" the quiet lane and" for _ in prompts]  # known words, no complete sentence
    assert score_quality(prompts, fragments).valid == 0.0
    assert score_quality(prompts, fragments).consistent == 0.0  # nothing parsed is not "consistent"
    assert score_quality(prompts, [""] * len(prompts)).consistent == 0.0
    spliced = real[1:] + real[:1]  # each prompt continued by another story
    assert score_quality(prompts, spliced).valid < 0.5


def test_diversity_metrics_react_to_repetition():
    same = ["the fox ran to the river"] * 10
    varied = [f"the fox number {i} ran to river {i * 7}" for i in range(10)]
    assert distinct_n(same, 2) < distinct_n(varied, 2)
    assert self_bleu(same) > self_bleu(varied)


def test_the_grammatical_share_has_a_standard_error_over_samples():
    # one sentence per sample: the share's standard error is the per-sample standard deviation / sqrt(n)
    assert ratio_stderr([1, 0, 1, 0], [1, 1, 1, 1], 0.5) == pytest.approx((1 / 3) ** 0.5 / 2)
    assert ratio_stderr([2, 4], [2, 4], 1.0) == 0.0  # every sentence grammatical: no spread
    assert ratio_stderr([1], [3], 1 / 3) == 0.0 and ratio_stderr([0, 0], [0, 0], 0.0) == 0.0
