"""Template matching: every template compiled once into a regex with one named group per slot.

Slot groups only accept lexicon words (compiled as a character trie for speed), so a sentence
parses iff it is an instance of some template with valid words in every slot. Name slots are the
one exception: an alternation of ~900 names would make compiling all templates take seconds, so
they match one capitalised word and the parser then checks it against the lexicon set (the same
language, since a name is always followed by a non-letter). Templates are indexed by their
possible first words; a sentence is only tried against its candidates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from cola_core.data.storyworld import lexicon as lx
from cola_core.data.storyworld.templates import PLAN_SLOTS, iter_templates, template_slots

_ARTICLE_WORD_RE = re.compile(r"\b([Aa])n? ([A-Za-z]+)")
_FIRST_WORD_RE = re.compile(r"[A-Za-z]+")
_PIECE_RE = re.compile(r"(\{\w+\})")
_LITERAL_ARTICLE_RE = re.compile(r"\b([Aa])n?\b(?= )")


@dataclass(frozen=True)
class Parse:
    """One way a sentence instantiates a template: its id, kind and ``(slot, value)`` pairs."""

    template_id: str
    kind: str
    slots: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Compiled:
    template_id: str
    kind: str
    regex: re.Pattern[str]
    slots: tuple[str, ...]
    name_groups: tuple[int, ...]  # groups holding a name (checked against lexicon.NAMES)


def trie_regex(words: tuple[str, ...] | list[str]) -> str:
    """Return a regex (no groups) matching exactly the given strings, factored as a trie."""
    trie: dict[str, dict] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            return "(?:" + body + ")?"
        return body

    return build(trie)


def _pair(adjs: tuple[str, ...], nouns: tuple[str, ...]) -> str:
    return trie_regex(adjs) + " " + trie_regex(nouns)


@functools.lru_cache(maxsize=None)
def slot_words(slot: str) -> tuple[str, ...] | None:
    """Return the words a simple slot accepts, or None for composite slots (two-part phrases)."""
    if slot in lx.FREE_SLOTS:
        return lx.FREE_SLOTS[slot]
    if slot[0] in "HX" and slot in PLAN_SLOTS:
        form = slot[2:]
        if not form:
            return lx.NAMES
        if form in lx.PRONOUNS["she"]:
            return tuple(dict.fromkeys(p[form] for p in lx.PRONOUNS.values()))
        return {"trait": lx.TRAITS, "kind": lx.KINDS, "traits": None}[form]
    simple = {
        "Pn": lx.PLACE_NOUNS,
        "On": lx.OBJECT_NOUNS,
        "R": lx.RELATIVES,
        "T": lx.TASK_BASE,
        "Td": tuple(lx.TASK_PAST.values()),
        "Tg": tuple(lx.TASK_GERUND.values()),
        "B": tuple(lx.OBSTACLES),
        "C": lx.CLUES,
        "F": lx.FOODS,
        "Bfix": tuple(dict.fromkeys(f for fixes in lx.OBSTACLES.values() for f in fixes)),
    }
    return simple.get(slot)


@functools.lru_cache(maxsize=None)
def _slot_regex(slot: str, initial: bool) -> str:
    words = slot_words(slot)
    if words is not None:
        if initial:
            words = tuple(w[:1].upper() + w[1:] for w in words)
        return trie_regex(words)
    if initial:
        raise ValueError(f"composite slot {slot!r} cannot start a sentence")
    if slot.endswith("_traits"):
        trait = trie_regex(lx.TRAITS)
        return f"{trait}(?: and {trait})?"
    pairs = {
        "P": (lx.PLACE_ADJS, lx.PLACE_NOUNS),
        "O": (lx.OBJECT_ADJS, lx.OBJECT_NOUNS),
        "D": (lx.LANDMARK_ADJS, lx.LANDMARK_NOUNS),
        "L": (lx.LANDMARK_ADJS, lx.LANDMARK_NOUNS),
        "W": (lx.CONTEST_ADJS, lx.CONTEST_NOUNS),
    }
    return _pair(*pairs[slot])


_NAME_TOKEN = "[A-Z][a-z]+"
_NAME_SET = frozenset(lx.NAMES)


def _is_name_slot(slot: str) -> bool:
    return slot in ("H", "X")


def _literal_regex(text: str) -> str:
    """Escape literal template text; the articles "a"/"an" match either form (checked later)."""
    out, pos = [], 0
    for m in _LITERAL_ARTICLE_RE.finditer(text):
        out.append(re.escape(text[pos : m.start()]) + m.group(1) + "n?")
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return "".join(out)


def compile_template(tid: str, kind: str, text: str) -> _Compiled:
    """Compile one template into a regex with groups ``s0``, ``s1`` ... for its slots."""
    parts: list[str] = []
    slots: list[str] = []
    for j, piece in enumerate(_PIECE_RE.split(text)):
        if j % 2 == 0:
            parts.append(_literal_regex(piece))
            continue
        slot = piece[1:-1]
        body = _NAME_TOKEN if _is_name_slot(slot) else _slot_regex(slot, initial=(parts == [""]))
        parts.append(f"(?P<s{len(slots)}>{body})")
        slots.append(slot)
    names = tuple(i for i, slot in enumerate(slots) if _is_name_slot(slot))
    return _Compiled(tid, kind, re.compile("".join(parts)), tuple(slots), names)


def _first_word(text: str) -> str:
    """The leading letters of ``text`` (templates and slot words start with a letter)."""
    m = _FIRST_WORD_RE.match(text)
    assert m is not None, text
    return m.group(0)


def _first_words(text: str) -> set[str]:
    """The possible first words of sentences made from template ``text``."""
    if text.startswith("{"):
        words = slot_words(template_slots(text)[0]) or ()
        return {_first_word(w[:1].upper() + w[1:]) for w in words}
    word = _first_word(text)
    return {"A", "An"} if word in ("A", "An") else {word}


@functools.lru_cache(maxsize=1)
def compiled_index() -> dict[str, tuple[_Compiled, ...]]:
    """Compile every template once and index them by possible first word."""
    index: dict[str, list[_Compiled]] = {}
    for tid, kind, text in iter_templates():
        compiled = compile_template(tid, kind, text)
        for word in _first_words(text):
            index.setdefault(word, []).append(compiled)
    return {w: tuple(c) for w, c in index.items()}


def articles_ok(sentence: str) -> bool:
    """True iff every "a"/"an" in ``sentence`` agrees with the word after it."""
    for m in _ARTICLE_WORD_RE.finditer(sentence):
        if m.group(0).split(" ", 1)[0].lower() != lx.article(m.group(2)):
            return False
    return True


def parse_sentence(sentence: str) -> list[Parse]:
    """Return every template parse of ``sentence`` (empty if it is not grammatical)."""
    first = _FIRST_WORD_RE.match(sentence)
    if first is None or not articles_ok(sentence):
        return []
    parses = []
    for c in compiled_index().get(first.group(0), ()):
        m = c.regex.fullmatch(sentence)
        if m is None:
            continue
        values = m.groups()
        if all(values[i] in _NAME_SET for i in c.name_groups):
            parses.append(Parse(c.template_id, c.kind, tuple(zip(c.slots, values))))
    return parses


@functools.lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """Every lowercase word that can appear in a story (template literals and lexicon words)."""
    words: set[str] = set()
    texts = [t for _, _, t in iter_templates()]
    slots = {s for t in texts for s in template_slots(t)}
    for slot in slots:
        pool = slot_words(slot) or ()
        texts.extend(pool)
    texts.extend(lx.TRAITS + lx.PLACE_ADJS + lx.PLACE_NOUNS + lx.OBJECT_ADJS + lx.OBJECT_NOUNS)
    texts.extend(lx.LANDMARK_ADJS + lx.LANDMARK_NOUNS + lx.CONTEST_ADJS + lx.CONTEST_NOUNS)
    for t in texts:
        words.update(w.lower() for w in _FIRST_WORD_RE.findall(_PIECE_RE.sub(" ", t)))
    return frozenset(words)
