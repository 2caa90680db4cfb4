"""The storyworld scorer: exact match after SQuAD normalisation (articles removed), LAMBADA's first
word, a bare option letter for multiple choice, and token F1 for QA.

This is the project's own scoring of its task formats (`sw-lambada`, `sw-cloze`, `sw-qa` and task
files in the `{"context", "answer", "type"}` format). It is not the paper's protocol: that one is
`cola_core/eval/official.py` + `options.py`, chosen per task by `cola_core/eval/scorers.py`.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from cola_core.eval.official import cut_generation
from cola_core.eval.tasks import LETTERS, TaskItem

__all__ = [
    "ItemScore",
    "accuracy_with_stderr",
    "cut_generation",
    "first_word",
    "normalize",
    "score",
    "score_text",
    "token_f1",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and articles, squeeze whitespace (SQuAD normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def first_word(text: str) -> str:
    """The first word of a generation, without surrounding punctuation."""
    words = text.strip().split()
    return words[0].strip(string.punctuation + "“”‘’\"'") if words else ""


def token_f1(prediction: str, answer: str) -> float:
    """SQuAD token-overlap F1 of normalised texts."""
    pred, gold = normalize(prediction).split(), normalize(answer).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if not pred or not gold or common == 0:
        return float(pred == gold)
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class ItemScore:
    """Storyworld verdict of one generation: exact match and token F1 (F1 = EM outside QA)."""

    correct: bool
    f1: float


def score_text(kind: str, generation: str, answer: str, choices: Sequence[str] = ()) -> ItemScore:
    """Score one generation for a task of type `kind` (lambada, multiple_choice or qa)."""
    if kind == "lambada":
        ok = normalize(first_word(generation)) == normalize(answer)
        return ItemScore(ok, float(ok))
    cut = cut_generation(generation).strip()
    ok = normalize(cut) == normalize(answer)
    if not ok and choices:  # a bare letter "B" / "(B)" names the option
        m = re.fullmatch(r"\(?([A-J])\)?[.:]?", cut.strip())
        if m and LETTERS.index(m.group(1)) < len(choices):
            ok = choices[LETTERS.index(m.group(1))] == answer
    return ItemScore(ok, token_f1(cut, answer) if kind == "qa" else float(ok))


def score(item: TaskItem, generation: str) -> ItemScore:
    """Score one generation against its item (by the item's type)."""
    return score_text(item.type, generation, item.answer, item.choices)


def mean_with_stderr(values: list[float]) -> tuple[float, float]:
    """Mean of per-item scores and its standard error (sample standard deviation / sqrt(n))."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


def accuracy_with_stderr(flags: list[bool]) -> tuple[float, float]:
    """Mean accuracy and its binomial standard error sqrt(p(1-p)/n)."""
    n = len(flags)
    if n == 0:
        return float("nan"), float("nan")
    p = sum(flags) / n
    return p, math.sqrt(p * (1 - p) / n)
