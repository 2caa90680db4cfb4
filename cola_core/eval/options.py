"""Rule 5 of the official protocol: the option letter of a generation (MMLU, OBQA, RACE, SIQA).

Readings where the written rule leaves a choice (each pinned by a unit test):
- keywords ("answer", "final answer", "option", "choice", "is") match case-insensitively as whole words;
  option letters are upper-case A-Z only, so "the answer is a dog" names no option;
- "a letter counts only when it names one of the item's options": letters naming no option are
  dropped before "the last" one is taken, and a step that finds none passes to the next step;
- the 40-character limit applies to the stripped text;
- options that normalise to '' are never "contained" in a text (the paper sets have none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from cola_core.eval.official import cut_generation, normalize, similarity

LETTER_SCAN_MAX_CHARS = 40
"""Only texts this short are searched for a bare bracketed letter."""
SIMILARITY_THRESHOLD = 0.9
"""Lowest difflib ratio at which the most similar option counts as named."""

_IS = r"\s*(?:(?i:is)\b|=|:|\uff1a)?\s*"
_ANSWER_KEY = re.compile(r"\b(?i:final\s+answer|answer)\b" + _IS)
_SINGLE = re.compile(r"(?:\(([A-Z])\)|\[([A-Z])\]|([A-Z]))\.?")
_AFTER_KEY = re.compile(
    r"\b(?i:final\s+answer|answer|option|choice)\b" + _IS + r"(?:\(([A-Z])\)|\[([A-Z])\]|([A-Z]))(?=\s|$|[^\w\s])"
)
_BRACKETED = re.compile(r"\(([A-Z])\)|\[([A-Z])\]")
_LEAD = re.compile(r"^(?:the\s+)?(?:correct\s+)?(?:final\s+)?(?:answer|option|choice)\b\s*(?:is\b|=|:|\uff1a)?\s*")


def answer_segment(text: str) -> str:
    """The text after the first "answer"/"final answer" keyword (optionally is, =, :, ：) on the last
    non-empty line that has one, stripped; no keyword on any line: the whole text, stripped."""
    for line in reversed([ln for ln in text.splitlines() if ln.strip()]):
        m = _ANSWER_KEY.search(line)
        if m:
            return line[m.end() :].strip()
    return text.strip()


def _valid(letters: Sequence[str], n_options: int) -> list[int]:
    """Option indices of the letters that name one of `n_options` options, in order."""
    return [ord(c) - ord("A") for c in letters if c and ord(c) - ord("A") < n_options]


def _letters(matches: list[tuple[str, ...]]) -> list[str]:
    """The letter of each match (one of its alternative groups is set)."""
    return ["".join(g or "" for g in groups) for groups in matches]


def letter_from_text(text: str, n_options: int) -> int | None:
    """Option index named by a letter in `text`: the whole text is a letter ("C", "(C)", "[C].");
    else the last letter after answer/final answer/option/choice (optionally is, =, :), optionally
    bracketed, followed by whitespace, end or punctuation; else, for texts of at most 40 characters,
    the last bracketed letter. Letters naming no option do not count; None when none is found."""
    text = text.strip()
    whole = _SINGLE.fullmatch(text)
    if whole and (found := _valid(_letters([whole.groups()]), n_options)):
        return found[-1]
    if found := _valid(_letters(_AFTER_KEY.findall(text)), n_options):
        return found[-1]
    if len(text) <= LETTER_SCAN_MAX_CHARS and (found := _valid(_letters(_BRACKETED.findall(text)), n_options)):
        return found[-1]
    return None


def letter_from_option_text(text: str, options: Sequence[str]) -> int | None:
    """Option index whose text `text` gives: normalised equality; else equality after stripping a
    leading "(the) (correct) (final) answer|option|choice (is|=|:)"; else the only option contained
    in the stripped text; else the most similar option if its difflib ratio is >= 0.9."""
    norm = normalize(text)
    opts = [normalize(o) for o in options]
    if norm in opts:
        return opts.index(norm)
    stripped = _LEAD.sub("", norm, count=1)
    if stripped in opts:
        return opts.index(stripped)
    contained = [i for i, o in enumerate(opts) if o and o in stripped]
    if len(contained) == 1:
        return contained[0]
    if not opts:
        return None
    ratios = [similarity(stripped, o) for o in opts]
    best = max(range(len(opts)), key=ratios.__getitem__)
    return best if ratios[best] >= SIMILARITY_THRESHOLD else None


def extract_option(text: str, options: Sequence[str]) -> int | None:
    """Letter from the text, then from option text (None when neither names an option)."""
    found = letter_from_text(text, len(options))
    return found if found is not None else letter_from_option_text(text, options)


@dataclass(frozen=True)
class OptionMatch:
    """The option indices read from a generation and from its answer (None: not found)."""

    predicted: int | None
    gold: int | None

    @property
    def decided(self) -> bool:
        """Both letters found and equal: correct by rule 5 (otherwise rule 6 decides)."""
        return self.predicted is not None and self.predicted == self.gold


def predicted_option(generation: str, options: Sequence[str]) -> int | None:
    """The generation's option: try its answer segment, then the whole cut generation."""
    cut = cut_generation(generation)
    for source in (answer_segment(cut), cut.strip()):
        found = extract_option(source, options)
        if found is not None:
            return found
    return None


def match_options(generation: str, answer: str, options: Sequence[str]) -> OptionMatch:
    """Rule 5's two lookups: the predicted option, then the gold one (from the ground truth)."""
    return OptionMatch(predicted_option(generation, options), extract_option(answer, options))


def option_letter(index: int | None) -> str:
    """'A' for 0, 'B' for 1, ... ('' for None)."""
    return "" if index is None else chr(ord("A") + index)
