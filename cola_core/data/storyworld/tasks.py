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
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Callable
from typing import Any

from cola_core.data.storyworld import lexicon as lx
from cola_core.data.storyworld.generator import Story, story_values, realise, render, story_seed
from cola_core.data.storyworld.plan import Plan, Thing, sample_plan
from cola_core.data.storyworld.templates import TEMPLATES

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


def _other(rng: random.Random, pool: tuple[str, ...], avoid: set[str]) -> str:
    choice = rng.choice(pool)
    while choice in avoid:
        choice = rng.choice(pool)
    return choice


def _wrong_goal(plan: Plan, rng: random.Random) -> Plan:
    """A copy of ``plan`` whose goal argument (object, destination, task, contest) differs."""
    g = dataclasses.replace(plan.goal)
    if g.obj is not None:
        g.obj = Thing(_other(rng, lx.OBJECT_ADJS, {g.obj.adj}),
                      _other(rng, lx.OBJECT_NOUNS, {g.obj.noun}))
    elif g.dest is not None:
        g.dest = Thing(_other(rng, lx.LANDMARK_ADJS, {g.dest.adj}),
                       _other(rng, lx.LANDMARK_NOUNS, {g.dest.noun}))
    elif g.task is not None:
        g.task = _other(rng, lx.TASK_BASE, {g.task})
    elif g.contest is not None:
        g.contest = Thing(_other(rng, lx.CONTEST_ADJS, {g.contest.adj}),
                          _other(rng, lx.CONTEST_NOUNS, {g.contest.noun}))
    return dataclasses.replace(plan, goal=g)


def _wrong_name(plan: Plan, rng: random.Random) -> Plan:
    """A copy of ``plan`` whose hero has a name that does not occur in the story."""
    hero = dataclasses.replace(plan.hero, name=_other(rng, lx.NAMES, {c.name for c in plan.characters}))
    return dataclasses.replace(plan, characters=[hero] + plan.characters[1:])


def _ending(plan: Plan, kind: str, index: int, seed: int) -> str:
    return render(kind, plan, random.Random(seed), story_values(plan), index=index)[0]


def cloze_choices(story: Story, rng: random.Random) -> tuple[str, list[str]]:
    """Return ``(correct, choices)``: an ending for ``story`` (whose last sentence is its ending)
    and it shuffled with three wrong ones: another hero name, another goal argument (both with
    the same template and word choices as the correct one) and an ending of the other outcome.
    """
    plan = story.plan
    kind, index = story.template_ids[-1].rsplit(".", 1)
    flipped = ("endbad" if kind.startswith("endgood") else "endgood") + kind[kind.index("_"):]
    draws = rng.getrandbits(64)
    correct = _ending(plan, kind, int(index), draws)
    choices = [correct,
               _ending(_wrong_name(plan, rng), kind, int(index), draws),
               _ending(_wrong_goal(plan, rng), kind, int(index), draws),
               _ending(plan, flipped, rng.randrange(len(TEMPLATES[flipped])), draws)]
    rng.shuffle(choices)
    return correct, choices


def make_cloze(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` four-way story-ending items (exactly one ending fits the plan)."""
    items = []
    for i in range(n):
        story, rng = _eval_story("sw-cloze", seed, i, closing="none")
        correct, choices = cloze_choices(story, rng)
        items.append({"context": " ".join(story.sentences[:-1]), "choices": choices,
                      "answer": correct, "type": "multiple_choice", "id": f"sw-cloze-{seed}-{i}"})
    return items


def _questions(plan: Plan) -> list[tuple[str, str]]:
    """Every ``(question, answer)`` pair the plan supports."""
    hero, g = plan.hero.name, plan.goal
    qs = [("Who is the main character of the story?", hero),
          ("Where did the story take place?", plan.place.text)]
    if g.kind == "find":
        qs.append((f"What did {hero} lose?", g.obj.text))
    elif g.kind == "deliver":
        qs.append((f"What did {hero} have to bring?", g.obj.text))
    elif g.kind == "reach":
        qs.append((f"Where did {hero} want to go?", g.dest.text))
    elif g.kind == "help":
        qs.append((f"Who did {hero} want to help?", g.friend))
    else:
        qs.append((f"What did {hero} want to win?", g.contest.text))
    if len(plan.friends) == 1:
        qs.append((f"Who was the friend of {hero}?", plan.friends[0].name))
    if plan.rival is not None:
        qs.append((f"Who tried to stop {hero}?", plan.rival.name))
    return qs


def make_qa(n: int, seed: int) -> list[dict[str, Any]]:
    """Build ``n`` short-answer who/where/what questions about a full story."""
    items = []
    for i in range(n):
        story, rng = _eval_story("sw-qa", seed, i, closing="auto")
        question, answer = rng.choice(_questions(story.plan))
        items.append({"context": f"{story.text}\nQuestion: {question} Answer:", "answer": answer,
                      "type": "qa", "id": f"sw-qa-{seed}-{i}"})
    return items


TASK_BUILDERS: dict[str, Callable[[int, int], list[dict[str, Any]]]] = {
    "sw-lambada": make_lambada,
    "sw-cloze": make_cloze,
    "sw-qa": make_qa,
}
