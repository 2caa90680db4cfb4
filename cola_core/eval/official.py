"""The official Cola DLM generative scoring protocol (rules 2-4 and 6 of the paper tasks' README).

The cut, the normalisation, LAMBADA's first word and the exact normalised match. The option-letter
rules (rule 5) are in `cola_core/eval/options.py`; choosing a rule per task is `scorers.py`.

The normalisation follows the written order literally: lower-case, strip, delete punctuation, then
squeeze whitespace. Stripping comes before punctuation goes, so ", the man ran." normalises to
" the man ran" (leading space kept) and "Paris ." to "paris " (trailing space kept).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

_WORD = re.compile(r"\w")
_PUNCT = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def cut_generation(text: str) -> str:
    """Rule 2: the text before the first newline that has a word character somewhere before it.

    Without such a newline the whole generation is kept ("\\n\\nParis\\nRome" -> "\\n\\nParis")."""
    start = 0
    while (i := text.find("\n", start)) >= 0:
        if _WORD.search(text, 0, i):
            return text[:i]
        start = i + 1
    return text


def normalize(text: str) -> str:
    """Rule 3: lower-case, strip, delete every non-word non-space character, squeeze whitespace runs to one space.

    Articles stay (unlike SQuAD's normalisation)."""
    return _SPACES.sub(" ", _PUNCT.sub("", text.lower().strip()))


def first_word(text: str) -> str:
    """The first whitespace-separated word of `text` ('' when there is none)."""
    words = text.split()
    return words[0] if words else ""


def similarity(a: str, b: str) -> float:
    """Character-sequence similarity (difflib ratio; 1.0 for two empty strings)."""
    return SequenceMatcher(None, a, b).ratio()


def lambada_correct(generation: str, answer: str) -> bool:
    """Rule 4: the first word of the normalised cut generation equals the first word of the normalised answer."""
    return first_word(normalize(cut_generation(generation))) == first_word(normalize(answer))


def exact_correct(generation: str, answer: str) -> bool:
    """Rule 6: the normalised cut generation and the normalised answer have similarity 1.0, i.e. are equal."""
    return similarity(normalize(cut_generation(generation)), normalize(answer)) >= 1.0
