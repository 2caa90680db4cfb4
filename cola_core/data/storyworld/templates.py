"""Registry of all sentence templates, their kinds (families) and slot names.

A template is a ``str.format`` string whose fields are slots. Its id is ``"<kind>.<index>"``
(e.g. ``"goal_find.03"``), stable as long as templates are only appended to a family. Each kind
belongs to a *family* that tells the validator what the sentence does in the story, and some
kinds carry a goal kind (``"goal_find"`` -> family ``"goal"``, goal ``"find"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cola_core.data.storyworld.lexicon import FREE_SLOTS
from cola_core.data.storyworld.templates_ending import ENDING_TEMPLATES
from cola_core.data.storyworld.templates_events import EVENT_TEMPLATES
from cola_core.data.storyworld.templates_opening import OPENING_TEMPLATES

GOAL_KINDS: tuple[str, ...] = ("find", "reach", "deliver", "help", "win")

TEMPLATES: dict[str, tuple[str, ...]] = {
    kind: tuple(texts)
    for group in (OPENING_TEMPLATES, EVENT_TEMPLATES, ENDING_TEMPLATES)
    for kind, texts in group.items()
}

# Families of sentence kinds whose name has no goal suffix.
_PLAIN_FAMILIES = frozenset(
    {
        "intro",
        "introfriend",
        "meetfriend",
        "meetrival",
        "travel",
        "travelwith",
        "scenery",
        "obstacle",
        "overcome",
        "help",
        "discovery",
        "conflict",
        "rest",
        "feeling",
        "closing",
        "closefriend",
        "closeobject",
        "closeplace",
    }
)
GOAL_FAMILIES = frozenset({"goal", "reason", "achieve", "setback", "endgood", "endbad"})
EVENT_FAMILIES = frozenset(
    {
        "meetfriend",
        "meetrival",
        "travel",
        "travelwith",
        "obstacle",
        "overcome",
        "help",
        "discovery",
        "conflict",
        "rest",
    }
)
DETAIL_FAMILIES = frozenset({"scenery", "feeling"})
CLOSING_FAMILIES = frozenset({"closing", "closefriend", "closeobject", "closeplace"})

# Slots filled from the plan; every other slot is a free slot from lexicon.FREE_SLOTS.
_CHAR_SLOT_SUFFIXES = ("", "_he", "_him", "_his", "_self", "_was", "_traits", "_trait", "_kind")
PLAN_SLOTS: frozenset[str] = frozenset(
    [f"{who}{suffix}" for who in ("H", "X") for suffix in _CHAR_SLOT_SUFFIXES]
    + ["P", "Pn", "O", "On", "D", "R", "T", "Td", "Tg", "W", "L", "B", "Bfix", "C", "F"]
)
_SLOT_RE = re.compile(r"\{(\w+)\}")


def kind_info(kind: str) -> tuple[str, str | None]:
    """Return ``(family, goal_kind)`` for a template kind; goal_kind is None for plain kinds."""
    if kind in _PLAIN_FAMILIES:
        return kind, None
    family, _, goal = kind.partition("_")
    if family not in GOAL_FAMILIES or goal not in GOAL_KINDS:
        raise KeyError(f"unknown template kind {kind!r}")
    return family, goal


def template_id(kind: str, index: int) -> str:
    """Return the id of template ``index`` of ``kind``."""
    return f"{kind}.{index:02d}"


def iter_templates() -> Iterator[tuple[str, str, str]]:
    """Yield ``(template_id, kind, text)`` for every template."""
    for kind, texts in TEMPLATES.items():
        for i, text in enumerate(texts):
            yield template_id(kind, i), kind, text


TEMPLATE_BY_ID: dict[str, str] = {tid: text for tid, _, text in iter_templates()}


def template_slots(text: str) -> list[str]:
    """Return the slot names of a template in order of appearance (with repeats)."""
    return _SLOT_RE.findall(text)


def count_templates() -> int:
    """Return the total number of distinct sentence templates."""
    return len(set(TEMPLATE_BY_ID.values()))


def unknown_slots() -> set[str]:
    """Return slot names used by some template that are neither plan nor free slots (want: empty)."""
    known = PLAN_SLOTS | set(FREE_SLOTS)
    return {s for _, _, t in iter_templates() for s in template_slots(t) if s not in known}
