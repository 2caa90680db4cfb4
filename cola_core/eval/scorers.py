"""Which scorer a task gets, and scoring a task's generation records with it.

By task name (the file's stem, case-insensitive), as the official scorer does:
- `lambada`: rule 4 (first word);
- `mmlu`, `obqa`, `race`, `siqa`: rule 5 (option letter, with rule 6 as fallback); `choices` required;
- `hellaswag`, `squad`, `story_cloze`: rule 6 (exact normalised match);
- any other name: the storyworld scorer when every record carries the project's `type` (built-in
  storyworld tasks and task files in the project's format), otherwise rule 6.
`jobs.eval` and `jobs.score` both go through `score_records`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cola_core.config import ConfigError
from cola_core.eval.generations import GenerationRecord
from cola_core.eval.official import exact_correct, lambada_correct
from cola_core.eval.options import match_options, option_letter
from cola_core.eval.scoring import accuracy_with_stderr, score_text

OFFICIAL_TASKS = ("lambada", "mmlu", "obqa", "hellaswag", "race", "siqa", "squad", "story_cloze")
"""The paper's eight tasks, in the order of its table."""
OPTION_TASKS = ("mmlu", "obqa", "race", "siqa")


@dataclass(frozen=True)
class Verdict:
    """How one record scored: correct or not, the rule that decided, and what was read."""

    correct: bool
    rule: str
    """`first_word` (4), `option_letter` (5), `exact` (6), or `storyworld`."""
    predicted: str = ""
    """Rule 5: the predicted option letter ('' when none was found)."""
    gold: str = ""
    """Rule 5: the gold option letter ('' when none was found)."""
    f1: float | None = None
    """Storyworld QA only: token F1."""

    def to_json(self) -> dict:
        out = {"correct": self.correct, "rule": self.rule}
        if self.rule == "option_letter" or self.predicted or self.gold:
            out.update(predicted_option=self.predicted, gold_option=self.gold)
        if self.f1 is not None:
            out["f1"] = self.f1
        return out


@dataclass(frozen=True)
class Scorer:
    """A named function from a record to its verdict."""

    name: str
    score: Callable[[GenerationRecord], Verdict]


def _lambada(r: GenerationRecord) -> Verdict:
    return Verdict(lambada_correct(r.generate, r.ground_truth), "first_word")


def _exact(r: GenerationRecord) -> Verdict:
    return Verdict(exact_correct(r.generate, r.ground_truth), "exact")


def _options(r: GenerationRecord) -> Verdict:
    m = match_options(r.generate, r.ground_truth, r.choices)
    pred, gold = option_letter(m.predicted), option_letter(m.gold)
    if m.decided:
        return Verdict(True, "option_letter", pred, gold)
    return Verdict(exact_correct(r.generate, r.ground_truth), "exact", pred, gold)


def _storyworld(r: GenerationRecord) -> Verdict:
    s = score_text(r.type or "qa", r.generate, r.ground_truth, r.choices)
    return Verdict(s.correct, "storyworld", f1=s.f1 if r.type == "qa" else None)


OFFICIAL_LAMBADA = Scorer("official-lambada", _lambada)
OFFICIAL_OPTIONS = Scorer("official-options", _options)
OFFICIAL_EXACT = Scorer("official-exact", _exact)
STORYWORLD = Scorer("storyworld", _storyworld)


def scorer_for(task: str, records: list[GenerationRecord]) -> Scorer:
    """The scorer of a task, from its name (and, for other names, whether records carry `type`)."""
    key = task.lower()
    if key == "lambada":
        return OFFICIAL_LAMBADA
    if key in OPTION_TASKS:
        return OFFICIAL_OPTIONS
    if key in OFFICIAL_TASKS:
        return OFFICIAL_EXACT
    if records and all(r.type is not None for r in records):
        return STORYWORLD
    return OFFICIAL_EXACT


def check_records(task: str, records: list[GenerationRecord], where: str) -> None:
    """Refuse records the task's scorer cannot score; the error names the file (`where`) and line."""
    if task.lower() in OPTION_TASKS:
        for r in records:
            if not r.choices:
                raise ConfigError(
                    f"{where}:{r.line}: {task} is scored by its option letters but this record has "
                    'no choices (add the option texts as "choices")'
                )
    marked = [r.prompt_len_mod_patch_size is not None for r in records]
    if any(marked) and not all(marked):
        r = records[marked.index(not marked[0])]
        raise ConfigError(
            f"{where}:{r.line}: prompt_len_mod_patch_size is set on some records and not on others "
            "(set it on all or none)"
        )


@dataclass
class TaskScores:
    """The verdicts of one task's records, and the accuracies they give."""

    task: str
    scorer: str
    records: list[GenerationRecord]
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.verdicts)

    @property
    def correct(self) -> int:
        return sum(v.correct for v in self.verdicts)

    @property
    def accuracy(self) -> float:
        """Fraction correct (nan without records)."""
        return accuracy_with_stderr([v.correct for v in self.verdicts])[0]

    @property
    def stderr(self) -> float:
        return accuracy_with_stderr([v.correct for v in self.verdicts])[1]

    @property
    def f1(self) -> float | None:
        """Mean token F1 when the scorer gives one for every record (storyworld QA), else None."""
        f1s = [v.f1 for v in self.verdicts]
        return sum(f1s) / len(f1s) if f1s and all(f is not None for f in f1s) else None  # type: ignore[arg-type]

    def by_remainder(self) -> dict[int, list[bool]]:
        """Verdicts grouped by `prompt_len_mod_patch_size` (empty when the records do not carry it)."""
        groups: dict[int, list[bool]] = {}
        for r, v in zip(self.records, self.verdicts):
            if r.prompt_len_mod_patch_size is not None:
                groups.setdefault(r.prompt_len_mod_patch_size, []).append(v.correct)
        return dict(sorted(groups.items()))


def score_records(task: str, records: list[GenerationRecord], where: str = "") -> TaskScores:
    """Score every record of a task with the task's scorer (after `check_records`)."""
    check_records(task, records, where or f"{task}.jsonl")
    scorer = scorer_for(task, records)
    return TaskScores(task, scorer.name, records, [scorer.score(r) for r in records])
