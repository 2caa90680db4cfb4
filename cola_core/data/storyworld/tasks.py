"""Few-shot evaluation items with known answers, built from held-out storyworld plans.

Seed spaces: training corpora use ``story_seed(seed, i)``, which lies in ``[0, 2**63)``. Task
items use ``EVAL_SEED_OFFSET + story_seed(task_base, i)`` with ``EVAL_SEED_OFFSET = 2**63``,
i.e. seeds in ``[2**63, 2**64)``, so no task story is ever a training story (of any base seed);
``task_base`` also mixes in the task name so the three tasks draw different stories.

Items are dicts ``{"context", "answer", "type", "id"}`` plus ``"choices"`` for multiple choice:

* ``sw-lambada``: the story up to but excluding its final word (so the context ends with a
  space and ``context + answer + "."`` is the story); the answer is that word: a friend's name,
  the goal object's noun or the place noun, all introduced early in the story.
* ``sw-cloze``: the story without its ending sentence and four candidate endings: the real one,
  the same ending with another hero name, with another goal argument, and an ending of the
  opposite outcome. The answer is the real ending's text.
* ``sw-qa``: the full story, a newline and ``"Question: ... Answer:"``; the answer is a short span
  of the story (a name, the place, the goal object/destination/contest), without an article.

The formats and the plan-derived questions/choices live in ``formats.py``, shared with the
training corpus (``corpus.py``), which writes a share of its documents in these same formats.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

from cola_core.data.storyworld.formats import cloze_choices, qa_line, questions
from cola_core.data.storyworld.generator import Story, realise, story_seed
from cola_core.data.storyworld.plan import sample_plan

EVAL_SEED_OFFSET = 1 << 63


def eval_seed(task: str, seed: int, index: int) -> int:
    """Seed of item ``index`` of ``task`` for base ``seed`` (disjoint from training seeds)."""
    salt = int.from_bytes(hashlib.sha256(task.encode()).digest()[:8], "little")
    return EVAL_SEED_OFFSET + story_seed(seed ^ salt, index)


def _eval_story(task: str, seed: int, index: int, closing: str) -> tuple[Story, random.Random]:
    rng = random.Random(eval_seed(task, seed, index))
    return realise(sample_plan(rng), rng, closing=closing), rng


def make_lambada(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` last-word prediction items; the last word is fixed by the global plan."""
    items = []
    for i in range(n):
        story, _ = _eval_story("sw-lambada", seed, i, closing="lambada")
        body = story.text[:-1]  # drop the final '.'
        cut = body.rindex(" ") + 1
        items.append({"context": body[:cut], "answer": body[cut:], "type": "lambada",
                      "id": f"sw-lambada-{seed}-{i}"})
    return items


def make_cloze(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` four-way story-ending items (exactly one ending fits the plan)."""
    items = []
    for i in range(n):
        story, rng = _eval_story("sw-cloze", seed, i, closing="none")
        correct, choices = cloze_choices(story, rng)
        items.append({"context": " ".join(story.sentences[:-1]), "choices": choices,
                      "answer": correct, "type": "multiple_choice", "id": f"sw-cloze-{seed}-{i}"})
    return items


def make_qa(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` short-answer who/where/what questions about a full story."""
    items = []
    for i in range(n):
        story, rng = _eval_story("sw-qa", seed, i, closing="auto")
        question, answer = rng.choice(questions(story.plan))
        items.append({"context": story.text + qa_line(question), "answer": answer,
                      "type": "qa", "id": f"sw-qa-{seed}-{i}"})
    return items


TASK_BUILDERS: dict[str, Callable[[int, int], list[dict[str, Any]]]] = {
    "sw-lambada": make_lambada,
    "sw-cloze": make_cloze,
    "sw-qa": make_qa,
}
