"""Check a text against the storyworld grammar and against one consistent plan.

Every sentence must parse as a template instance (see ``parsing.py``); the parsed sentences are
then replayed through a small state machine that rebuilds the plan they imply and reports every
contradiction: a name, pronoun, trait, kind, place or goal argument that changes; a character
used before being introduced; the introduction not first, the goal not before the events; an
obstacle resolved before it appears; an outcome before two events or with an open obstacle; an
ending that contradicts the outcome; sentences after the ending.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from cola_core.data.storyworld import lexicon as lx
from cola_core.data.storyworld.parsing import Parse, known_words, parse_sentence
from cola_core.data.storyworld.templates import (
    CLOSING_FAMILIES,
    DETAIL_FAMILIES,
    EVENT_FAMILIES,
    kind_info,
)

_SENT_SPLIT_RE = re.compile(r"(?<=[.!?])\s+")
_WORD_RE = re.compile(r"[A-Za-z]+")
_ALL_PRONOUNS = frozenset(lx.PRONOUNS)
# pronoun form -> value -> pronoun sets it fits ("was" fits she and he).
_PRONOUN_FITS: dict[str, dict[str, frozenset[str]]] = {
    form: {
        v: frozenset(p for p, f in lx.PRONOUNS.items() if f[form] == v) for v in {f[form] for f in lx.PRONOUNS.values()}
    }
    for form in lx.PRONOUNS["she"]
}
_TASK_BY_FORM = {
    **{t: t for t in lx.TASK_BASE},
    **{v: k for k, v in lx.TASK_PAST.items()},
    **{v: k for k, v in lx.TASK_GERUND.items()},
}
_GOAL_SLOT_KEYS = {"O": "O", "D": "D", "R": "R", "T": "T", "Td": "T", "Tg": "T", "W": "W"}
_INTRODUCING = {"introfriend": "friend", "meetfriend": "friend", "meetrival": "rival"}
_DETAIL_PARENTS = {
    "scenery": frozenset({"travel", "travelwith"}),
    "feeling": frozenset({"obstacle", "conflict", "meetrival", "setback"}),
}
_SLOT_ORDER = {"": 0, "kind": 1, "traits": 2}


@dataclass
class StoryCheck:
    """Result of checking a story (or a story prefix) against the storyworld grammar."""

    num_sentences: int
    num_grammatical: int
    grammatical_fraction: float
    consistent: bool
    reasons: list[str]
    entities: dict[str, Any]
    valid: bool
    template_ids: list[str] = field(default_factory=list)
    truncated: bool = False


@dataclass
class _Char:
    role: str
    pronouns: frozenset[str] = _ALL_PRONOUNS
    traits: tuple[str, ...] = ()
    kind: str | None = None


@dataclass
class _State:
    chars: dict[str, _Char] = field(default_factory=dict)
    hero: str | None = None
    place: tuple[str | None, str] | None = None
    goal: str | None = None
    goal_args: dict[str, str] = field(default_factory=dict)
    phase: str = "start"  # start -> intro -> goal -> events -> ending -> closing
    obstacle: str | None = None
    outcome: str | None = None
    n_events: int = 0
    prev: str | None = None


class _Checker:
    """Replays parsed sentences and collects contradictions with a single implied plan."""

    def __init__(self) -> None:
        self.s = _State()

    def step(self, p: Parse, index: int) -> list[str]:
        """Apply one parsed sentence; return human-readable problems (empty if consistent)."""
        fam, goal = kind_info(p.kind)
        errs = self._order(fam, index) + self._goal_kind(fam, goal)
        errs += self._characters(fam, goal, p) + self._entities(fam, p) + self._obstacles(fam, p)
        self.s.prev = fam
        return [f"sentence {index + 1} ({p.template_id}): {e}" for e in errs]

    def _order(self, fam: str, index: int) -> list[str]:
        s, errs = self.s, []
        if fam == "intro":
            if index != 0:
                errs.append("the introduction is not the first sentence")
            s.phase = "intro" if s.phase == "start" else s.phase
            return errs
        if s.phase == "start":
            errs.append("the story does not start with an introduction")
        if s.phase == "closing":
            errs.append("sentence after the closing line")
        elif s.phase == "ending" and fam not in CLOSING_FAMILIES:
            errs.append("sentence after the ending")
        if fam == "introfriend" and s.prev not in ("intro", "introfriend"):
            errs.append("a friend is introduced outside the opening")
        elif fam == "goal":
            if s.phase not in ("start", "intro"):
                errs.append("the goal is stated after the story has moved on")
            s.phase = "goal" if s.phase in ("start", "intro") else s.phase
        elif fam == "reason" and s.prev != "goal":
            errs.append("the reason does not follow the goal")
        elif fam in EVENT_FAMILIES or fam in ("achieve", "setback"):
            errs += self._event_order(fam)
        elif fam in DETAIL_FAMILIES and s.prev not in _DETAIL_PARENTS[fam]:
            errs.append(f"a {fam} sentence does not follow a matching event")
        elif fam in ("endgood", "endbad"):
            want = "achieve" if fam == "endgood" else "setback"
            if s.outcome is None:
                errs.append("the ending comes before the outcome")
            elif s.outcome != want:
                errs.append(f"the ending contradicts the outcome ({s.outcome})")
            s.phase = "ending" if s.phase in ("goal", "events", "intro") else s.phase
        elif fam in CLOSING_FAMILIES:
            if s.phase != "ending":
                errs.append("the closing line does not follow the ending")
            s.phase = "closing"
        return errs

    def _event_order(self, fam: str) -> list[str]:
        s, errs = self.s, []
        if s.phase not in ("goal", "events"):
            errs.append("an event comes before the goal or after the ending")
        if s.outcome is not None:
            errs.append("an event comes after the outcome")
        if fam in ("achieve", "setback"):
            if s.n_events < 2:
                errs.append("the outcome comes after fewer than two events")
            if s.obstacle is not None:
                errs.append(f"the outcome comes while the {s.obstacle} is unresolved")
            s.outcome = s.outcome or fam
        else:
            s.n_events += 1
        s.phase = "events" if s.phase in ("goal", "events") else s.phase
        return errs

    def _goal_kind(self, fam: str, goal: str | None) -> list[str]:
        if goal is None:
            return []
        if self.s.goal is None:
            if fam == "goal":
                self.s.goal = goal
                return []
            return [f"a {fam} sentence comes before the goal"]
        return [] if goal == self.s.goal else [f"goal kind {goal} contradicts {self.s.goal}"]

    def _characters(self, fam: str, goal: str | None, p: Parse) -> list[str]:
        errs: list[str] = []
        names = {"H": self.s.hero, "X": next((v for k, v in p.slots if k == "X"), None)}
        intro_x = fam in _INTRODUCING
        if fam == "intro" and self.s.hero is None:
            names["H"] = next((v for k, v in p.slots if k == "H"), None)
            self.s.hero = names["H"]
            if names["H"] is not None:
                self.s.chars[names["H"]] = _Char("hero")
        char_slots = [(k, v) for k, v in p.slots if k[0] in "HX" and (len(k) == 1 or k[1] == "_")]
        for slot, value in sorted(char_slots, key=lambda kv: _SLOT_ORDER.get(kv[0][2:], 3)):
            who, form = slot[0], slot[2:]
            if form == "":
                errs += self._check_name(who, value, fam, goal, intro_x)
                continue
            char = self.s.chars.get(names[who] or "")
            if char is not None:
                introducing = (who == "H" and fam == "intro") or (who == "X" and intro_x)
                errs += self._check_attr(char, names[who], form, value, introducing)
        return errs

    def _check_name(self, who: str, name: str, fam: str, goal: str | None, intro_x: bool) -> list[str]:
        s = self.s
        if who == "H":
            if s.hero is None:
                return ["the hero is named before any introduction"]
            return [] if name == s.hero else [f"the hero is {s.hero}, not {name}"]
        if intro_x:
            if name in s.chars:
                return [f"{name} is introduced twice"]
            s.chars[name] = _Char(_INTRODUCING[fam])
            return []
        if name not in s.chars or name == s.hero:
            return [f"{name} appears without being introduced"]
        role = s.chars[name].role
        if fam in ("travelwith", "help", "closefriend") and role != "friend":
            return [f"{name} acts as a friend but is the {role}"]
        if fam == "conflict" and role != "rival":
            return [f"{name} acts as a rival but is a {role}"]
        if goal == "help":
            if fam == "goal":
                s.goal_args.setdefault("X", name)
                return [] if role == "friend" else [f"{name} is not a friend"]
            if s.goal_args.get("X") != name:
                return [f"the goal is to help {s.goal_args.get('X')}, not {name}"]
        return []

    def _check_attr(self, char: _Char, name: str | None, form: str, value: str, introducing: bool) -> list[str]:
        if form == "kind":
            if introducing and char.kind is None:
                char.kind = value
                char.pronouns = char.pronouns & lx.KIND_PRONOUNS[value]
                return []
            return [] if value == char.kind else [f"{name} is a {char.kind}, not a {value}"]
        if form == "traits":
            traits = tuple(value.split(" and "))
            if introducing and not char.traits:
                char.traits = traits
                return []
            if traits == char.traits:
                return []
            return [f"{name} was {' and '.join(char.traits)}, not {value}"]
        if form == "trait":
            return [] if value in char.traits else [f"{name} was never said to be {value}"]
        fits = char.pronouns & _PRONOUN_FITS[form][value.lower()]
        if not fits:
            return [f"the pronoun '{value}' does not fit {name}"]
        char.pronouns = fits
        return []

    def _entities(self, fam: str, p: Parse) -> list[str]:
        s, errs = self.s, []
        for slot, value in p.slots:
            if slot in ("P", "Pn"):
                adj, noun = value.split(" ", 1) if slot == "P" else (None, value)
                if s.place is None or (s.place[0] is None and adj is not None and s.place[1] == noun):
                    s.place = (adj, noun)
                elif noun != s.place[1] or (adj is not None and adj != s.place[0]):
                    errs.append(f"the place changes to {value}")
            elif slot == "On":
                full = s.goal_args.get("O")
                if full is None:
                    errs.append(f"the {value} is mentioned but is not the goal object")
                elif full.split(" ", 1)[1] != value:
                    errs.append(f"the goal object is the {full}, not the {value}")
            elif slot in _GOAL_SLOT_KEYS:
                key = _GOAL_SLOT_KEYS[slot]
                value = _TASK_BY_FORM[value] if key == "T" else value
                if fam == "goal":
                    s.goal_args.setdefault(key, value)
                if key not in s.goal_args:
                    errs.append(f"'{value}' is mentioned before the goal")
                elif s.goal_args[key] != value:
                    errs.append(f"the goal says '{s.goal_args[key]}', not '{value}'")
        return errs

    def _obstacles(self, fam: str, p: Parse) -> list[str]:
        s, slots = self.s, dict(p.slots)
        if "B" not in slots:
            return []
        b, errs = slots["B"], []
        if fam == "obstacle":
            if s.obstacle is not None:
                errs.append(f"a new obstacle appears before the {s.obstacle} is resolved")
            s.obstacle = b
        elif fam in ("overcome", "help"):
            if s.obstacle != b:
                errs.append(f"the {b} is overcome but the open obstacle is {s.obstacle}")
            s.obstacle = None
            if "Bfix" in slots and slots["Bfix"] not in lx.OBSTACLES[b]:
                errs.append(f"one cannot '{slots['Bfix']}' a {b}")
        return errs

    def finish(self) -> list[str]:
        """Problems of a complete story that only show at its end."""
        s, errs = self.s, []
        if s.hero is None:
            errs.append("the story has no introduction")
        if s.goal is None:
            errs.append("the story has no goal")
        if s.phase not in ("ending", "closing"):
            errs.append("the story does not end with an ending sentence")
        return errs


def split_sentences(text: str) -> list[str]:
    """Split a one-paragraph text into sentences (after '.', '!' or '?')."""
    text = text.strip()
    return _SENT_SPLIT_RE.split(text) if text else []


def _choose(checker: _Checker, parses: list[Parse], index: int) -> tuple[_Checker, Parse, list[str]]:
    """Apply the first parse that is consistent so far (greedy), else the first parse."""
    if len(parses) == 1:
        return checker, parses[0], checker.step(parses[0], index)
    first: tuple[_Checker, Parse, list[str]] | None = None
    for p in parses:
        trial = copy.deepcopy(checker)
        errs = trial.step(p, index)
        if not errs:
            return trial, p, errs
        first = first or (trial, p, errs)
    assert first is not None
    return first


def _check(sentences: list[str], complete: bool, truncated: bool) -> StoryCheck:
    checker, reasons, ids, grammatical = _Checker(), [], [], 0
    consistency: list[str] = []
    for i, sentence in enumerate(sentences):
        parses = parse_sentence(sentence)
        if not parses:
            reasons.append(f"sentence {i + 1} does not parse: {sentence[:80]!r}")
            ids.append("")
            continue
        grammatical += 1
        checker, parse, errs = _choose(checker, parses, i)
        ids.append(parse.template_id)
        consistency += errs
    if complete:
        consistency += checker.finish()
    s = checker.s
    entities = {
        "hero": s.hero,
        "names": list(s.chars),
        "goal": s.goal,
        "place": " ".join(w for w in s.place if w) if s.place else None,
    }
    n = len(sentences)
    consistent = not consistency
    return StoryCheck(
        n,
        grammatical,
        grammatical / n if n else 0.0,
        consistent,
        reasons + consistency,
        entities,
        n > 0 and grammatical == n and consistent,
        ids,
        truncated,
    )


def validate_story(text: str) -> StoryCheck:
    """Check a complete story: every sentence grammatical and all consistent with one plan."""
    return _check(split_sentences(text), complete=True, truncated=False)


def check_partial(text: str) -> StoryCheck:
    """Check a story prefix (e.g. a generation cut at a token budget).

    Same checks as :func:`validate_story` except that the story need not be finished and a final
    unterminated sentence is not parsed: only its words (but the last, maybe cut) must be known.
    """
    sentences = split_sentences(text)
    truncated = bool(sentences) and sentences[-1][-1] not in ".!?"
    tail = sentences.pop() if truncated else ""
    result = _check(sentences, complete=False, truncated=truncated)
    complete_words = _WORD_RE.findall(" ".join(tail.split()[:-1]))  # the last one may be cut
    unknown = [w for w in complete_words if w.lower() not in known_words()]
    if unknown:
        result.reasons.append(f"the truncated sentence has unknown words: {unknown[:5]}")
    result.valid = (
        result.num_grammatical == result.num_sentences
        and result.consistent
        and not unknown
        and (result.num_sentences > 0 or bool(tail))
    )
    return result
