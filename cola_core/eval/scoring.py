"""Scoring generations the paper's way: cut, normalise, exact match (LAMBADA: first word); QA adds token F1."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from dataclasses import dataclass

from cola_core.eval.tasks import LETTERS, TaskItem

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_FIRST_LINE = re.compile(r"^\W*\w.*?(?=\n)", re.DOTALL)


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and articles, squeeze whitespace (SQuAD normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def cut_generation(text: str) -> str:
    """Keep the generation up to the first newline that follows some word characters."""
    m = _FIRST_LINE.match(text)
    return m.group(0) if m else text


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
    correct: bool
    f1: float


def score(item: TaskItem, generation: str) -> ItemScore:
    """Score one generation against its item."""
    if item.type == "lambada":
        ok = normalize(first_word(generation)) == normalize(item.answer)
        return ItemScore(ok, float(ok))
    cut = cut_generation(generation).strip()
    ok = normalize(cut) == normalize(item.answer)
    if not ok and item.choices:  # a bare letter "B" / "(B)" names the option
        m = re.fullmatch(r"\(?([A-J])\)?[.:]?", cut.strip())
        if m and LETTERS.index(m.group(1)) < len(item.choices):
            ok = item.choices[LETTERS.index(m.group(1))] == item.answer
    return ItemScore(ok, token_f1(cut, item.answer) if item.type == "qa" else float(ok))


def accuracy_with_stderr(flags: list[bool]) -> tuple[float, float]:
    """Mean accuracy and its binomial standard error sqrt(p(1-p)/n)."""
    n = len(flags)
    if n == 0:
        return float("nan"), float("nan")
    p = sum(flags) / n
    return p, math.sqrt(p * (1 - p) / n)
