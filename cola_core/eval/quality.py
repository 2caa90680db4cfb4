"""Exact generation quality on storyworld: validity and plan consistency (from the generator's own
templates), and diversity (distinct-n, self-BLEU)."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Callable

from cola_core.data.storyworld import check_partial, generate_story, parse_sentence
from cola_core.data.storyworld.validator import split_sentences
from cola_core.data.storyworld.tasks import eval_seed


@dataclass
class QualityResult:
    """Averages over samples; validity/consistency in [0, 1], diversity higher = more diverse
    (except self-BLEU, where lower = more diverse)."""

    n: int
    valid: float
    valid_stderr: float
    grammatical: float
    """Fraction of generated complete sentences that parse as a storyworld template instance (a graded,
    local-quality number that moves long before whole samples become valid)."""
    grammatical_stderr: float
    """Its standard error over samples (a ratio of per-sample counts: the delta method)."""
    consistent: float
    """Fraction of samples whose continuation adds at least one template sentence and stays
    consistent with a single plan (a continuation that parses nowhere cannot be consistent by default)."""
    distinct_1: float
    distinct_2: float
    distinct_3: float
    self_bleu: float
    examples: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams / all n-grams over the samples."""
    grams = [tuple(t.split()[i : i + n]) for t in texts for i in range(max(0, len(t.split()) - n + 1))]
    return len(set(grams)) / len(grams) if grams else 0.0


def _bleu(hyp: list[str], refs: list[list[str]], max_n: int = 4) -> float:
    """Smoothed (add-one) sentence BLEU of `hyp` against several references."""
    if not hyp:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
        best: Counter = Counter()
        for r in refs:
            best |= Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
        match = sum(min(c, best[g]) for g, c in h.items())
        log_p += math.log((match + 1) / (sum(h.values()) + 1))
    closest = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
    bp = 1.0 if len(hyp) > closest else math.exp(1 - closest / len(hyp))
    return bp * math.exp(log_p / max_n)


def self_bleu(texts: list[str], max_refs: int = 50, seed: int = 0) -> float:
    """Mean BLEU of each sample against (up to `max_refs` of) the others."""
    if len(texts) < 2:
        return 0.0
    rng = random.Random(seed)
    tokens = [t.split() for t in texts]
    scores = []
    for i, hyp in enumerate(tokens):
        others = [tokens[j] for j in range(len(tokens)) if j != i]
        scores.append(_bleu(hyp, rng.sample(others, min(max_refs, len(others)))))
    return sum(scores) / len(scores)


def quality_prompts(n: int, seed: int, prompt_sentences: int = 2) -> list[str]:
    """Openings of held-out stories (their first sentences); an empty string asks for an unconditional sample."""
    prompts = []
    for i in range(n):
        story = generate_story(eval_seed("sw-quality", seed, i))
        prompts.append(" ".join(story.sentences[:prompt_sentences]) if i % 2 == 0 else "")
    return prompts


def complete_sentences(text: str) -> str:
    """`text` up to its last sentence end ('' when it has no complete sentence)."""
    end = max(text.rfind(c) for c in ".!?")
    return text[: end + 1] if end >= 0 else ""


def ratio_stderr(hits: list[int], counts: list[int], ratio: float) -> float:
    """Standard error of sum(hits) / sum(counts) over independent samples (delta method); 0 for < 2 samples
    with a count."""
    n, total = len(counts), sum(counts)
    if n < 2 or total == 0:
        return 0.0
    mean = total / n
    spread = sum((h - ratio * c) ** 2 for h, c in zip(hits, counts)) / (n - 1)
    return math.sqrt(spread / n) / mean


def score_quality(prompts: list[str], generations: list[str]) -> QualityResult:
    """Check prompt + the continuation's complete sentences against the storyworld grammar and a
    single plan. A continuation without one complete sentence counts as invalid, so a model cannot
    pass by emitting fragments of known words."""
    parts = [complete_sentences(g) for g in generations]
    checks = [check_partial((p + c).strip()) for p, c in zip(prompts, parts)]
    n = len(checks)
    valid = sum(c.valid and bool(part.strip()) for c, part in zip(checks, parts)) / n
    parsed = [[bool(parse_sentence(s)) for s in split_sentences(part)] for part in parts]
    generated = [ok for sample in parsed for ok in sample]
    texts = [g.strip() for g in generations]
    grammatical = sum(generated) / len(generated) if generated else 0.0
    return QualityResult(
        n=n,
        valid=valid,
        valid_stderr=math.sqrt(valid * (1 - valid) / n),
        grammatical=grammatical,
        grammatical_stderr=ratio_stderr([sum(x) for x in parsed], [len(x) for x in parsed], grammatical),
        consistent=sum(c.consistent and any(ok) for c, ok in zip(checks, parsed)) / n,
        distinct_1=distinct_n(texts, 1),
        distinct_2=distinct_n(texts, 2),
        distinct_3=distinct_n(texts, 3),
        self_bleu=self_bleu(texts),
        examples=[(p + g).strip()[:300] for p, g in list(zip(prompts, generations))[:3]],
    )


def run_quality(
    generate: Callable[[list[str], int], list[str]], n: int, max_new_tokens: int, seed: int = 0
) -> QualityResult:
    """Sample `n` continuations (half from story openings, half unconditional) and score them."""
    prompts = quality_prompts(n, seed)
    return score_quality(prompts, generate(prompts, max_new_tokens))
