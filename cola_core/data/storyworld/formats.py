"""Task formats shared by the evaluation items (``tasks.py``) and the training corpus (``corpus.py``).

One definition of each format, so that what the model reads in pretraining is byte for byte what
evaluation asks:

* question answering: ``"<story>\\nQuestion: <question> Answer: <answer>"`` (:func:`qa_line`); the
  evaluation prompt stops after ``"Answer:"`` and the harness adds ``" " + answer`` to a
  demonstration, exactly like :func:`qa_line` with an answer;
* multiple choice: ``"<context>\\n(A) <choice>\\n(B) ...\\nAnswer: <correct choice>"``
  (:func:`mc_text`), the layout of ``cola_core.eval.tasks.TaskItem.render`` (kept in sync by
  ``tests/unit/test_storyworld_corpus.py``; this package stays standard-library only, so it does
  not import the evaluation code).

The plan-derived content lives here too: :func:`questions` (every question a plan answers) and
:func:`cloze_choices` (the real ending and three wrong ones).
"""

from __future__ import annotations

import dataclasses
import random

from cola_core.data.storyworld import lexicon as lx
from cola_core.data.storyworld.generator import Story, render, story_values
from cola_core.data.storyworld.plan import Plan, Thing
from cola_core.data.storyworld.templates import TEMPLATES

LETTERS = "ABCDEFGHIJ"
"""Option labels, as in ``cola_core.eval.tasks.LETTERS``."""


def qa_line(question: str, answer: str | None = None) -> str:
    """One question line as appended to a story: ``"\\nQuestion: q Answer:"`` (+ ``" answer"``)."""
    line = f"\nQuestion: {question} Answer:"
    return line if answer is None else f"{line} {answer}"


def qa_text(story_text: str, pairs: list[tuple[str, str]]) -> str:
    """A story followed by one answered question line per ``(question, answer)`` pair."""
    return story_text + "".join(qa_line(q, a) for q, a in pairs)


def mc_text(context: str, choices: list[str], answer: str | None = None) -> str:
    """A multiple-choice item: context, one ``(A) choice`` line per option, ``Answer:`` (+ answer)."""
    options = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    text = f"{context}\n{options}\nAnswer:"
    return text if answer is None else f"{text} {answer}"


def questions(plan: Plan) -> list[tuple[str, str]]:
    """Every ``(question, answer)`` pair the plan supports (answers are story spans, no article)."""
    hero, g = plan.hero.name, plan.goal
    qs = [("Who is the main character of the story?", hero), ("Where did the story take place?", plan.place.text)]
    if g.kind == "find":
        assert g.obj is not None  # set for this kind (see `Goal`)
        qs.append((f"What did {hero} lose?", g.obj.text))
    elif g.kind == "deliver":
        assert g.obj is not None
        qs.append((f"What did {hero} have to bring?", g.obj.text))
    elif g.kind == "reach":
        assert g.dest is not None
        qs.append((f"Where did {hero} want to go?", g.dest.text))
    elif g.kind == "help":
        assert g.friend is not None
        qs.append((f"Who did {hero} want to help?", g.friend))
    else:
        assert g.contest is not None
        qs.append((f"What did {hero} want to win?", g.contest.text))
    if len(plan.friends) == 1:
        qs.append((f"Who was the friend of {hero}?", plan.friends[0].name))
    if plan.rival is not None:
        qs.append((f"Who tried to stop {hero}?", plan.rival.name))
    return qs


def _other(rng: random.Random, pool: tuple[str, ...], avoid: set[str]) -> str:
    choice = rng.choice(pool)
    while choice in avoid:
        choice = rng.choice(pool)
    return choice


def _wrong_goal(plan: Plan, rng: random.Random) -> Plan:
    """A copy of ``plan`` whose goal argument (object, destination, task, contest) differs."""
    g = dataclasses.replace(plan.goal)
    if g.obj is not None:
        g.obj = Thing(_other(rng, lx.OBJECT_ADJS, {g.obj.adj}), _other(rng, lx.OBJECT_NOUNS, {g.obj.noun}))
    elif g.dest is not None:
        g.dest = Thing(_other(rng, lx.LANDMARK_ADJS, {g.dest.adj}), _other(rng, lx.LANDMARK_NOUNS, {g.dest.noun}))
    elif g.task is not None:
        g.task = _other(rng, lx.TASK_BASE, {g.task})
    elif g.contest is not None:
        g.contest = Thing(
            _other(rng, lx.CONTEST_ADJS, {g.contest.adj}), _other(rng, lx.CONTEST_NOUNS, {g.contest.noun})
        )
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
    flipped = ("endbad" if kind.startswith("endgood") else "endgood") + kind[kind.index("_") :]
    draws = rng.getrandbits(64)
    correct = _ending(plan, kind, int(index), draws)
    choices = [
        correct,
        _ending(_wrong_name(plan, rng), kind, int(index), draws),
        _ending(_wrong_goal(plan, rng), kind, int(index), draws),
        _ending(plan, flipped, rng.randrange(len(TEMPLATES[flipped])), draws),
    ]
    rng.shuffle(choices)
    return correct, choices
