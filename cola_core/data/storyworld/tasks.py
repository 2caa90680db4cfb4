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

Two likelihood-ranked minimal-pair tasks (type ``ranked``: ``{"context", "choices", "answer"}``,
scored by which choice the model finds more likely after the context, no generation, chance 0.5)
read what a model knows without asking it to copy anything out of its context:

* ``sw-order``: the story up to one of its sentences; choices are that sentence and the same
  sentence with two adjacent (different) words swapped. Local syntax, learned first.
* ``sw-agreement``: the story up to one of its sentences; choices are that sentence and the same
  sentence with one subject pronoun's gender flipped (he <-> she). The pronoun's referent was named
  earlier in the story, so choosing right takes tracking who the sentence is about (coreference).
  Even items flip a ``he``, odd ones a ``she``, so a model that prefers one pronoun whatever the
  context scores 0.5.

The formats and the plan-derived questions/choices live in ``formats.py``, shared with the
training corpus (``corpus.py``), which writes a share of its documents in these same formats.
"""

from __future__ import annotations

import hashlib
import random
import re
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
        items.append({"context": body[:cut], "answer": body[cut:], "type": "lambada", "id": f"sw-lambada-{seed}-{i}"})
    return items


def make_cloze(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` four-way story-ending items (exactly one ending fits the plan)."""
    items = []
    for i in range(n):
        story, rng = _eval_story("sw-cloze", seed, i, closing="none")
        correct, choices = cloze_choices(story, rng)
        items.append(
            {
                "context": " ".join(story.sentences[:-1]),
                "choices": choices,
                "answer": correct,
                "type": "multiple_choice",
                "id": f"sw-cloze-{seed}-{i}",
            }
        )
    return items


def make_qa(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` short-answer who/where/what questions about a full story."""
    items = []
    for i in range(n):
        story, rng = _eval_story("sw-qa", seed, i, closing="auto")
        question, answer = rng.choice(questions(story.plan))
        items.append(
            {"context": story.text + qa_line(question), "answer": answer, "type": "qa", "id": f"sw-qa-{seed}-{i}"}
        )
    return items


def _ranked_item(
    task: str, seed: int, i: int, story: Story, k: int, good: str, bad: str, rng: random.Random
) -> dict[str, Any]:
    choices = [good, bad]
    rng.shuffle(choices)  # a model that cannot tell them apart (a tie) is right half of the time
    return {
        "context": " ".join(story.sentences[:k]),
        "choices": choices,
        "answer": good,
        "type": "ranked",
        "id": f"{task}-{seed}-{i}",
    }


def make_order(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` word-order minimal pairs: a story sentence (after the story so far) against it with
    two adjacent different words swapped."""
    items = []
    for i in range(n):
        story, rng = _eval_story("sw-order", seed, i, closing="auto")
        k = rng.randrange(1, len(story.sentences))
        words = story.sentences[k].split()
        j = rng.choice([j for j in range(len(words) - 1) if words[j] != words[j + 1]])
        bad = " ".join([*words[:j], words[j + 1], words[j], *words[j + 2 :]])
        items.append(_ranked_item("sw-order", seed, i, story, k, story.sentences[k], bad, rng))
    return items


_SUBJECT = re.compile(r"\b(he|she|He|She)\b")
_FLIP = {"he": "she", "she": "he", "He": "She", "She": "He"}


def make_agreement(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` pronoun-agreement minimal pairs: a story sentence (after the story so far, which
    names its referent) against it with one subject pronoun's gender flipped; the true pronoun is
    ``he`` for even items and ``she`` for odd ones (stories are redrawn from the item's stream until
    one has such a pronoun after its first sentence)."""
    items = []
    for i in range(n):
        want = "he" if i % 2 == 0 else "she"
        rng = random.Random(eval_seed("sw-agreement", seed, i))
        while True:
            story = realise(sample_plan(rng), rng, closing="auto")
            spots = [
                (k, m)
                for k in range(1, len(story.sentences))
                for m in _SUBJECT.finditer(story.sentences[k])
                if m.group().lower() == want
            ]
            if spots:
                break
        k, m = rng.choice(spots)
        good = story.sentences[k]
        bad = good[: m.start()] + _FLIP[m.group()] + good[m.end() :]
        items.append(_ranked_item("sw-agreement", seed, i, story, k, good, bad, rng))
    return items


TASK_BUILDERS: dict[str, Callable[[int, int], list[dict[str, Any]]]] = {
    "sw-lambada": make_lambada,
    "sw-cloze": make_cloze,
    "sw-qa": make_qa,
    "sw-order": make_order,
    "sw-agreement": make_agreement,
}
