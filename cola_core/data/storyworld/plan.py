"""The global plan of a story and its seeded sampler.

A :class:`Plan` fixes everything the text must agree on: the cast (hero first, then one or two
friends or a rival) with names, pronouns, traits and kind of creature; the place; the goal; the
ordered events; and whether the goal is achieved. The generator realises a plan sentence by
sentence with free local choices (templates, synonyms, scenery), the validator checks the text
against one consistent plan.

Event kinds and their ``args`` (all strings):

* ``meet`` -- ``who`` (a friend or the rival, introduced here), ``landmark``
* ``travel`` -- ``landmark``, optional ``with`` (a friend already introduced)
* ``obstacle`` -- ``obstacle``, ``landmark``; always followed by ``overcome`` or ``help``
* ``overcome`` -- ``obstacle``;  ``help`` -- ``who`` (a friend), ``obstacle``
* ``discovery`` -- ``clue``, ``landmark``;  ``conflict`` -- ``who`` (the rival)
* ``rest`` -- ``food``, ``landmark``
* ``achieve`` / ``setback`` -- the outcome, always the last event, ``landmark``
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from cola_core.data.storyworld import lexicon as lx

HERO, FRIEND, RIVAL = "hero", "friend", "rival"
_PRONOUN_WEIGHTS = (("she", 0.45), ("he", 0.45), ("they", 0.10))


@dataclass
class Character:
    """A named character: pronoun set key ("she"/"he"/"they"), traits, kind and role."""

    name: str
    pronoun: str
    traits: list[str]
    kind: str
    role: str
    introduced: str = "intro"  # "intro": in the opening sentences; "meet": by a meet event


@dataclass
class Thing:
    """An adjective plus a noun phrase, e.g. a place, an object, a landmark or a contest."""

    adj: str
    noun: str

    @property
    def text(self) -> str:
        """The phrase as it appears in stories, e.g. ``"misty forest"``."""
        return f"{self.adj} {self.noun}"


@dataclass
class Goal:
    """What the hero wants. Which optional fields are set depends on ``kind``.

    find: ``obj``; reach: ``dest``; deliver: ``obj`` and ``relative``; help: ``friend`` (a name)
    and ``task`` (base form, e.g. "build a raft"); win: ``contest``.
    """

    kind: str
    obj: Thing | None = None
    dest: Thing | None = None
    relative: str | None = None
    friend: str | None = None
    task: str | None = None
    contest: Thing | None = None


@dataclass
class Event:
    """One step of the story: an event kind and its string arguments."""

    kind: str
    args: dict[str, str] = field(default_factory=dict)


@dataclass
class Ending:
    """How the story ends: whether the goal was achieved (matches the outcome event)."""

    success: bool


@dataclass
class Plan:
    """The global plan of one story (JSON-serialisable through :meth:`to_dict`)."""

    characters: list[Character]
    place: Thing
    goal: Goal
    events: list[Event]
    ending: Ending

    @property
    def hero(self) -> Character:
        """The protagonist (always the first character)."""
        return self.characters[0]

    @property
    def friends(self) -> list[Character]:
        """The hero's friends, in order of introduction."""
        return [c for c in self.characters if c.role == FRIEND]

    @property
    def rival(self) -> Character | None:
        """The rival, if the plan has one."""
        return next((c for c in self.characters if c.role == RIVAL), None)

    def character(self, name: str) -> Character:
        """Return the character called ``name``."""
        return next(c for c in self.characters if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (only str/bool/list/dict/None values)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict` output."""

        def thing(d: dict[str, str] | None) -> Thing | None:
            return None if d is None else Thing(**d)

        g = data["goal"]
        goal = Goal(
            kind=g["kind"],
            obj=thing(g["obj"]),
            dest=thing(g["dest"]),
            relative=g["relative"],
            friend=g["friend"],
            task=g["task"],
            contest=thing(g["contest"]),
        )
        return cls(
            characters=[Character(**{**c, "traits": list(c["traits"])}) for c in data["characters"]],
            place=Thing(**data["place"]),
            goal=goal,
            events=[Event(e["kind"], dict(e["args"])) for e in data["events"]],
            ending=Ending(**data["ending"]),
        )


def _pick_pronoun(rng: random.Random) -> str:
    r = rng.random()
    for pronoun, weight in _PRONOUN_WEIGHTS:
        if r < weight:
            return pronoun
        r -= weight
    return _PRONOUN_WEIGHTS[-1][0]


def _sample_character(rng: random.Random, role: str, used: set[str]) -> Character:
    pronoun = _pick_pronoun(rng)
    pool = {"she": lx.NAMES_SHE, "he": lx.NAMES_HE, "they": lx.NAMES_ANY}[pronoun]
    if rng.random() < 0.2:
        pool = lx.NAMES_ANY
    name = rng.choice(pool)
    while name in used:
        name = rng.choice(pool)
    used.add(name)
    gendered = {"she": lx.KINDS_SHE, "he": lx.KINDS_HE, "they": ()}[pronoun]
    kinds = gendered if gendered and rng.random() < 0.4 else lx.KINDS_ANY
    traits = [rng.choice(lx.TRAITS)]
    if rng.random() < 0.5:
        second = rng.choice(lx.TRAITS)
        if second != traits[0]:
            traits.append(second)
    return Character(name, pronoun, traits, rng.choice(kinds), role)


def _thing(rng: random.Random, adjs: tuple[str, ...], nouns: tuple[str, ...]) -> Thing:
    return Thing(rng.choice(adjs), rng.choice(nouns))


def _landmark(rng: random.Random) -> str:
    return _thing(rng, lx.LANDMARK_ADJS, lx.LANDMARK_NOUNS).text


def _sample_cast(rng: random.Random) -> list[Character]:
    used: set[str] = set()
    hero = _sample_character(rng, HERO, used)
    r = rng.random()
    casts = ([FRIEND], [FRIEND, FRIEND], [FRIEND, RIVAL], [RIVAL])
    roles = casts[0 if r < 0.4 else 1 if r < 0.6 else 2 if r < 0.8 else 3]
    others = [_sample_character(rng, role, used) for role in roles]
    for i, c in enumerate(others):
        c.introduced = "intro" if (i == 0 and c.role == FRIEND and rng.random() < 0.5) else "meet"
    return [hero] + others


def _sample_goal(rng: random.Random, cast: list[Character]) -> Goal:
    first = cast[1]
    kinds = ["find", "reach", "deliver", "win"] + (["help"] if first.role == FRIEND else [])
    kind = rng.choice(kinds)
    if kind == "find":
        return Goal(kind, obj=_thing(rng, lx.OBJECT_ADJS, lx.OBJECT_NOUNS))
    if kind == "reach":
        return Goal(kind, dest=_thing(rng, lx.LANDMARK_ADJS, lx.LANDMARK_NOUNS))
    if kind == "deliver":
        return Goal(kind, obj=_thing(rng, lx.OBJECT_ADJS, lx.OBJECT_NOUNS), relative=rng.choice(lx.RELATIVES))
    if kind == "help":
        first.introduced = "intro"  # the goal sentence names this friend, so meet them first
        return Goal(kind, friend=first.name, task=rng.choice(lx.TASK_BASE))
    return Goal(kind, contest=_thing(rng, lx.CONTEST_ADJS, lx.CONTEST_NOUNS))


def _middle_units(rng: random.Random, cast: list[Character], n_events: int) -> list[list[Event]]:
    """Sample the events before the outcome as units (an obstacle and its resolution stay together)."""
    units = [[Event("meet", {"who": c.name, "landmark": _landmark(rng)})] for c in cast[1:] if c.introduced == "meet"]
    rival = next((c for c in cast if c.role == RIVAL), None)
    if rival is not None:
        units.append([Event("conflict", {"who": rival.name})])
    budget = max(n_events - 1, len(units) + 1) - len(units)
    while budget > 0:
        options = ["travel", "travel", "discovery", "rest"] + (["obstacle"] * 3 if budget >= 2 else [])
        kind = rng.choice(options)
        if kind == "obstacle":
            obstacle = rng.choice(tuple(lx.OBSTACLES))
            units.append(
                [
                    Event("obstacle", {"obstacle": obstacle, "landmark": _landmark(rng)}),
                    Event("overcome", {"obstacle": obstacle}),
                ]
            )
            budget -= 2
            continue
        if kind == "travel":
            units.append([Event("travel", {"landmark": _landmark(rng)})])
        elif kind == "discovery":
            clue = rng.choice(lx.CLUES)
            units.append([Event("discovery", {"clue": clue, "landmark": _landmark(rng)})])
        else:
            units.append([Event("rest", {"food": rng.choice(lx.FOODS), "landmark": _landmark(rng)})])
        budget -= 1
    rng.shuffle(units)
    return units


def _order_and_assign(rng: random.Random, cast: list[Character], units: list[list[Event]]) -> list[Event]:
    """Put the rival's meet before the conflict, then pick helpers and travel companions."""
    kinds = [u[0].kind for u in units]
    if "conflict" in kinds:  # the rival is always introduced by a meet event
        meet_i = next(
            i
            for i, u in enumerate(units)
            if u[0].kind == "meet" and u[0].args["who"] == next(c.name for c in cast if c.role == RIVAL)
        )
        conf_i = kinds.index("conflict")
        if conf_i < meet_i:
            units[conf_i], units[meet_i] = units[meet_i], units[conf_i]
    friends = {c.name for c in cast if c.role == FRIEND}
    known = [c.name for c in cast if c.role == FRIEND and c.introduced == "intro"]
    events: list[Event] = []
    for ev in (e for u in units for e in u):
        if ev.kind == "meet":
            if ev.args["who"] in friends:
                known.append(ev.args["who"])
        elif ev.kind == "overcome" and known and rng.random() < 0.6:
            ev = Event("help", {"who": rng.choice(known), "obstacle": ev.args["obstacle"]})
        elif ev.kind == "travel" and known and rng.random() < 0.4:
            ev.args["with"] = rng.choice(known)
        events.append(ev)
    return events


def sample_plan(rng: random.Random) -> Plan:
    """Sample a random, internally consistent story plan using ``rng`` only."""
    cast = _sample_cast(rng)
    place = _thing(rng, lx.PLACE_ADJS, lx.PLACE_NOUNS)
    goal = _sample_goal(rng, cast)
    success = rng.random() < 0.7
    n_events = rng.randint(3, 6)
    events = _order_and_assign(rng, cast, _middle_units(rng, cast, n_events))
    events.append(Event("achieve" if success else "setback", {"landmark": _landmark(rng)}))
    return Plan(characters=cast, place=place, goal=goal, events=events, ending=Ending(success))
