"""Run generative tasks with any family through one callback: prompts in, generated texts out."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from cola_core.eval.scoring import accuracy_with_stderr, score
from cola_core.eval.tasks import TaskItem, build_prompts

GenerateFn = Callable[[list[str], int], list[str]]
"""(prompts, max_new_tokens) -> generated continuations (text only, prompt excluded)."""

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

    def to_dict(self) -> dict:
        return asdict(self)


def run_task(name: str, items: list[TaskItem], generate: GenerateFn, max_new_tokens: int = 32, k_shot: int | None = None,
             seed: int = 0, count_tokens: Callable[[str], int] | None = None, keep_examples: int = 3) -> TaskResult:
    """Greedy few-shot generation over `items`; k defaults per task type (paper: LAMBADA 0, MC 2, QA 1)."""
    k = DEFAULT_SHOTS.get(items[0].type, 0) if k_shot is None else k_shot
    prompts = build_prompts(items, k, seed)
    start = time.perf_counter()
    generations = generate(prompts, max_new_tokens)
    seconds = time.perf_counter() - start
    scores = [score(item, gen) for item, gen in zip(items, generations)]
    acc, se = accuracy_with_stderr([s.correct for s in scores])
    f1 = sum(s.f1 for s in scores) / len(scores) if items[0].type == "qa" else None
    examples = [{"prompt_tail": p[-160:], "generation": g, "answer": it.answer, "correct": s.correct}
                for p, g, it, s in list(zip(prompts, generations, items, scores))[:keep_examples]]
    tokens = sum(count_tokens(g) for g in generations) if count_tokens else 0
    return TaskResult(task=name, n=len(items), accuracy=acc, stderr=se, f1=f1, k_shot=k, seconds=seconds,
                      generated_tokens=tokens, examples=examples)
