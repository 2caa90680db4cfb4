"""storyworld: a seeded built-in corpus of short English stories with a known generator.

Each story realises a global :class:`Plan` (cast, place, goal, ordered events, outcome) through
local choices (477 sentence templates, synonyms, scenery), so generated text can be checked
exactly by :func:`validate_story` / :func:`check_partial`, and evaluation items with known answers
come from :data:`TASK_BUILDERS`. The training corpus (:func:`iter_texts`) is mostly plain stories
plus a documented share (``QA_SHARE``, ``MC_SHARE``) written in those task formats about their own
story; :func:`iter_stories` gives plain stories only. Standard library only.

    >>> from cola_core.data.storyworld import generate_story, validate_story
    >>> story = generate_story(0)
    >>> validate_story(story.text).valid
    True
"""

from cola_core.data.storyworld.corpus import (
    DEFAULT_MIX,
    MC_SHARE,
    QA_SHARE,
    CorpusDoc,
    CorpusMix,
    corpus_document,
    iter_documents,
    iter_texts,
)
from cola_core.data.storyworld.generator import (
    Story,
    generate_story,
    iter_stories,
    realise,
    story_seed,
)
from cola_core.data.storyworld.parsing import Parse, parse_sentence
from cola_core.data.storyworld.plan import Character, Ending, Event, Goal, Plan, Thing, sample_plan
from cola_core.data.storyworld.tasks import (
    EVAL_SEED_OFFSET,
    TASK_BUILDERS,
    eval_seed,
    make_cloze,
    make_lambada,
    make_qa,
)
from cola_core.data.storyworld.templates import count_templates
from cola_core.data.storyworld.validator import StoryCheck, check_partial, validate_story

__all__ = [
    "EVAL_SEED_OFFSET",
    "MC_SHARE",
    "QA_SHARE",
    "TASK_BUILDERS",
    "Character",
    "CorpusDoc",
    "CorpusMix",
    "DEFAULT_MIX",
    "Ending",
    "Event",
    "Goal",
    "Parse",
    "Plan",
    "Story",
    "StoryCheck",
    "Thing",
    "check_partial",
    "corpus_document",
    "count_templates",
    "eval_seed",
    "generate_story",
    "iter_documents",
    "iter_stories",
    "iter_texts",
    "make_cloze",
    "make_lambada",
    "make_qa",
    "parse_sentence",
    "realise",
    "sample_plan",
    "story_seed",
    "validate_story",
]
