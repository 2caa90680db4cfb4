"""Run generative tasks with any family through one callback: prompts in, generated texts out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

from cola_core.eval.generations import GenerationRecord
from cola_core.eval.scorers import check_records, score_records
from cola_core.eval.summary import remainder_summary
from cola_core.eval.tasks import TaskItem, build_prompts

log = logging.getLogger(__name__)

GenerateFn = Callable[[list[str], int], list[str]]
"""(prompts, max_new_tokens) -> generated continuations (text only, prompt excluded)."""
RemaindersFn = Callable[[list[str]], list[int]]
"""prompts -> prompt length in tokens (as the sampler sees it) modulo the patch size."""

DEFAULT_SHOTS = {"lambada": 0, "multiple_choice": 2, "qa": 1}


@dataclass
class TaskResult:
    """Accuracy (and QA F1) of one task, with binomial standard error and timing."""

    task: str
    n: int
    accuracy: float
    stderr: float
    f1: float | None = None
    k_shot: int = 0
    seconds: float = 0.0
    generated_tokens: int = 0
    examples: list[dict] = field(default_factory=list)
    """A few (prompt tail, generation, answer, correct) records for eyeballing."""
    scorer: str = ""
    """Which scorer decided (`cola_core/eval/scorers.py`): official-lambada/-options/-exact or storyworld;
    `likelihood-ranked` for tasks of type `ranked` (`cola_core/eval/ranked.py`)."""
    by_remainder: dict[str, dict[str, float]] = field(default_factory=dict)
    """Patch size p > 1: {prompt length mod p: {n, correct, accuracy, stderr}}; {} otherwise."""
    chance: float | None = None
    """Likelihood-ranked tasks: the accuracy of a model that cannot tell the choices apart."""
    truncated_prompts: int = 0
    """Prompts longer than the model's prompt budget, left-truncated (their first tokens dropped)."""
    records: list[GenerationRecord] = field(default_factory=list, repr=False)
    """Every generation in the official layout (not part of `to_dict`; written as `<task>.jsonl`)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able summary (without the per-item records)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "records"}


def item_records(items: list[TaskItem], prompts: list[str]) -> list[GenerationRecord]:
    """Records for `items` with their prompts and empty generations; `type` only for the project's formats."""
    return [
        GenerationRecord(
            id=item.id,
            prompt=prompt,
            generate="",
            ground_truth=item.answer,
            choices=item.choices,
            type=None if item.prompt else item.type,
            line=i + 1,
        )
        for i, (item, prompt) in enumerate(zip(items, prompts))
    ]


def check_items(name: str, items: list[TaskItem], where: str) -> None:
    """Raise ConfigError before any generation when the task's scorer cannot score these items."""
    check_records(name, item_records(items, [item.render() for item in items]), where)


def run_task(
    name: str,
    items: list[TaskItem],
    generate: GenerateFn,
    max_new_tokens: int = 32,
    k_shot: int | None = None,
    seed: int = 0,
    count_tokens: Callable[[str], int] | None = None,
    keep_examples: int = 3,
    remainders: RemaindersFn | None = None,
    truncated: Callable[[list[str]], int] | None = None,
) -> TaskResult:
    """Greedy few-shot generation over `items`; k defaults per task type (paper: LAMBADA 0, MC 2, QA 1).

    Scored by the task's scorer (chosen by `name`, see `scorers.scorer_for`); with `remainders`,
    each record also gets `prompt_len_mod_patch_size` and the result an accuracy per remainder; with
    `truncated` (prompts -> how many get left-truncated), a warning counts the truncated prompts."""
    k = DEFAULT_SHOTS.get(items[0].type, 0) if k_shot is None else k_shot
    if all(item.prompt for item in items):
        k = 0  # pre-formatted prompts carry their own demonstrations; none are added
    prompts = build_prompts(items, k, seed)
    blank = item_records(items, prompts)
    check_records(name, blank, name)
    cut = truncated(prompts) if truncated else 0
    if cut:
        log.warning(
            "%s: %d of %d prompts are longer than the model's context allows and are left-truncated "
            "(their first tokens are dropped)",
            name,
            cut,
            len(prompts),
        )
    start = time.perf_counter()
    generations = generate(prompts, max_new_tokens)
    seconds = time.perf_counter() - start
    mods: list[int | None] = list(remainders(prompts)) if remainders else [None] * len(prompts)
    records = [replace(r, generate=g, prompt_len_mod_patch_size=m) for r, g, m in zip(blank, generations, mods)]
    scores = score_records(name, records, name)
    examples = [
        {"prompt_tail": r.prompt[-160:], "generation": r.generate, "answer": r.ground_truth, "correct": v.correct}
        for r, v in list(zip(records, scores.verdicts))[:keep_examples]
    ]
    tokens = sum(count_tokens(g) for g in generations) if count_tokens else 0
    return TaskResult(
        task=name,
        n=len(items),
        accuracy=scores.accuracy,
        stderr=scores.stderr,
        f1=scores.f1,
        k_shot=k,
        seconds=seconds,
        generated_tokens=tokens,
        examples=examples,
        scorer=scores.scorer,
        by_remainder=remainder_summary(scores),
        truncated_prompts=cut,
        records=records,
    )
