"""Tests of the storyworld corpus: generation, determinism, sharding, validator and tasks."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cola_core.data.storyworld import (
    EVAL_SEED_OFFSET,
    TASK_BUILDERS,
    Plan,
    check_partial,
    count_templates,
    eval_seed,
    generate_story,
    iter_stories,
    iter_texts,
    make_cloze,
    make_lambada,
    make_qa,
    parse_sentence,
    realise,
    sample_plan,
    story_seed,
    validate_story,
)
from cola_core.data.storyworld import lexicon as lx
from cola_core.data.storyworld.templates import TEMPLATES, iter_templates, unknown_slots

ROOT = Path(__file__).resolve().parents[2]
_SENTENCE_RE = re.compile(r"[A-Z][^\n]*[.!?]")


@pytest.fixture(scope="module")
def stories() -> list:
    return list(iter_stories(600, seed=11))


# ---------------------------------------------------------------- determinism and sharding


def test_same_seed_same_story_and_different_seeds_differ() -> None:
    assert generate_story(123).text == generate_story(123).text
    assert generate_story(123).template_ids == generate_story(123).template_ids
    texts = [generate_story(s).text for s in range(300)]
    assert len(set(texts)) == 300


def test_story_seed_is_stable_across_processes() -> None:
    code = (
        "from cola_core.data.storyworld import story_seed, generate_story;"
        "print(story_seed(5, 77)); print(generate_story(story_seed(5, 77)).text)"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(h), "PYTHONPATH": str(ROOT)},
        ).stdout
        for h in (1, 2)
    }
    assert outs == {f"{story_seed(5, 77)}\n{generate_story(story_seed(5, 77)).text}\n"}


def test_story_seed_properties() -> None:
    seeds = [story_seed(b, i) for b in (0, 1, 2, 2**63 + 5) for i in range(500)]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**63 for s in seeds)
    with pytest.raises(ValueError):
        story_seed(0, -1)


def test_sharded_ranges_equal_single_run() -> None:
    whole = list(iter_texts(40, seed=4))
    parts = list(iter_texts(13, 4, 0)) + list(iter_texts(20, 4, 13)) + list(iter_texts(7, 4, 33))
    assert parts == whole
    assert whole != list(iter_texts(40, seed=5))
    stories = [s.text for s in iter_stories(40, seed=4)]  # plain stories shard the same way
    assert [s.text for s in iter_stories(5, seed=4, start=35)] == stories[35:]
    assert stories == [generate_story(story_seed(4, i)).text for i in range(40)]


# ---------------------------------------------------------------- format, templates, vocabulary


def test_story_format(stories: list) -> None:
    for st in stories:
        assert st.text == " ".join(st.sentences)
        assert len(st.template_ids) == len(st.sentences)
        assert st.text.isascii() and "\n" not in st.text and "  " not in st.text
        assert 6 <= len(st.sentences) <= 14
        assert 70 <= len(st.text.split()) <= 220
        assert all(_SENTENCE_RE.fullmatch(s) for s in st.sentences)


def test_template_count_and_slots() -> None:
    assert count_templates() >= 400
    ids = [tid for tid, _, _ in iter_templates()]
    assert len(ids) == len(set(ids))
    assert unknown_slots() == set()
    for kind, texts in TEMPLATES.items():
        if kind.startswith(("endgood_", "endbad_")):
            goal = kind.split("_")[1]
            goal_slot = {"find": "{O}", "deliver": "{O}", "reach": "{D}", "win": "{W}"}.get(goal)
            for t in texts:
                assert "{H}" in t and (goal_slot is None or goal_slot in t), t
                assert goal_slot is not None or "{T" in t, t


def test_lexicon_sanity() -> None:
    assert len(lx.NAMES) >= 500 and len(set(lx.NAMES)) == len(lx.NAMES)
    assert not set(lx.FREE_SLOTS["good"]) & set(lx.FREE_SLOTS["bad"])
    assert not set(lx.TRAITS) & set(lx.KINDS)
    words = [w for pool in lx.FREE_SLOTS.values() for w in pool] + list(lx.NAMES) + list(lx.TRAITS)
    assert all(re.fullmatch(r"[A-Za-z ]+", w) for w in words)


def test_vocabulary_size() -> None:
    # Word types (lowercase alphabetic) measured: 3272 in 5000 stories, 3273 in 20000 stories.
    vocab: set[str] = set()
    for text in iter_texts(5000, seed=2):
        vocab.update(re.findall(r"[a-z]+", text.lower()))
    assert len(vocab) >= 3000


# ---------------------------------------------------------------- plans


def test_plan_round_trip_and_structure() -> None:
    for seed in range(300):
        rng = random.Random(seed)
        plan = sample_plan(rng)
        state = rng.getstate()
        again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
        assert again == plan
        rng2 = random.Random()
        rng2.setstate(state)
        assert realise(again, rng2).text == realise(plan, rng).text
        assert 3 <= len(plan.events) <= 6 and 2 <= len(plan.characters) <= 3
        assert plan.events[-1].kind == ("achieve" if plan.ending.success else "setback")
        met = {c.name for c in plan.characters if c.introduced == "intro"}
        for ev in plan.events:
            if ev.kind == "meet":
                assert ev.args["who"] not in met
                met.add(ev.args["who"])
            assert all(ev.args[k] in met for k in ("who", "with") if k in ev.args)


# ---------------------------------------------------------------- validator


def test_validator_accepts_all_real_stories(stories: list) -> None:
    for st in stories:
        check = validate_story(st.text)
        assert check.valid, (st.text, check.reasons)
        assert check.grammatical_fraction == 1.0 and check.consistent
        assert check.template_ids == st.template_ids
        assert check.entities["hero"] == st.plan.hero.name
        assert check.entities["place"] == st.plan.place.text


def test_validator_rejects_shuffled_stories(stories: list) -> None:
    rng, rejected = random.Random(0), 0
    for st in stories[:400]:
        sents = st.sentences[:]
        while sents == st.sentences:
            rng.shuffle(sents)
        rejected += not validate_story(" ".join(sents)).valid
    assert rejected >= 0.95 * 400


def test_validator_rejects_spliced_stories(stories: list) -> None:
    rejected = by_entities = 0
    pairs = list(zip(stories[0:400:2], stories[1:400:2]))
    for a, b in pairs:
        text = " ".join(a.sentences[: len(a.sentences) // 2] + b.sentences[len(b.sentences) // 2 :])
        check = validate_story(text)
        rejected += not check.valid
        by_entities += any(
            k in r for r in check.reasons for k in ("the hero is", "place changes", "without being introduced")
        )
    assert rejected >= 0.95 * len(pairs)
    assert by_entities >= 0.9 * len(pairs)


def test_validator_rejects_word_salad(stories: list) -> None:
    rng = random.Random(1)
    words = [w for st in stories[:100] for w in st.text.split()]
    for _ in range(200):
        salad = " ".join(rng.choice(words) for _ in range(rng.randint(60, 150)))
        check = validate_story(salad)
        assert not check.valid and check.grammatical_fraction < 0.5


def test_validator_rejects_out_of_lexicon_slot_word(stories: list) -> None:
    rng = random.Random(2)
    for st in stories[:300]:
        i = rng.randrange(len(st.sentences))
        slot, value = rng.choice(parse_sentence(st.sentences[i])[0].slots)
        word = rng.choice(value.split())
        fake = "Zorblax" if word[0].isupper() else "zorblax"
        sents = st.sentences[:]
        sents[i] = re.sub(rf"\b{re.escape(word)}\b", fake, sents[i], count=1)
        check = validate_story(" ".join(sents))
        assert not check.valid and check.num_grammatical == len(sents) - 1, (slot, sents[i])


def test_validator_rejects_wrong_entities_and_articles(stories: list) -> None:
    st = stories[0]
    hero, other = st.plan.hero.name, next(n for n in lx.NAMES if n not in st.text)
    last = st.sentences[-1]
    if hero in last:
        assert not validate_story(" ".join(st.sentences[:-1] + [last.replace(hero, other)])).valid
    bad_article = st.text.replace(" a ", " an ", 1) if " a " in st.text else st.text + " a"
    assert not validate_story(bad_article).valid
    assert not validate_story("").valid


def test_check_partial_accepts_truncated_real_stories(stories: list) -> None:
    rng = random.Random(3)
    for st in stories[:300]:
        cut = rng.randrange(len(st.sentences[0]) + 1, len(st.text))
        check = check_partial(st.text[:cut])
        assert check.valid, (st.text[:cut], check.reasons)
        assert not validate_story(st.text[:cut]).valid
    st = stories[1]
    assert check_partial(st.text).valid and not check_partial(st.text).truncated
    assert not check_partial(st.sentences[1] + " " + st.sentences[0][:20]).valid
    assert not check_partial(st.sentences[0] + " Zorblax quibbled the frumious ").valid


# ---------------------------------------------------------------- tasks


def test_lambada_items() -> None:
    items = make_lambada(150, seed=0)
    for it in items:
        assert set(it) == {"context", "answer", "type", "id"} and it["type"] == "lambada"
        full = f"{it['context']}{it['answer']}."
        assert it["context"].endswith(" ") and " " not in it["answer"]
        assert validate_story(full).valid
        assert re.search(rf"\b{re.escape(it['answer'])}\b", it["context"])
        if it["answer"] in lx.NAMES:
            other = next(n for n in lx.NAMES if n not in full)
            assert not validate_story(f"{it['context']}{other}.").valid


def test_cloze_items() -> None:
    for it in make_cloze(120, seed=0):
        assert it["type"] == "multiple_choice" and len(it["choices"]) == 4
        assert len(set(it["choices"])) == 4 and it["answer"] in it["choices"]
        fits = [validate_story(f"{it['context']} {c}").valid for c in it["choices"]]
        assert fits.count(True) == 1 and fits[it["choices"].index(it["answer"])]
    positions = {it["choices"].index(it["answer"]) for it in make_cloze(40, seed=1)}
    assert len(positions) == 4


def test_qa_items() -> None:
    questions = set()
    for it in make_qa(200, seed=0):
        story, question = it["context"].split("\n")
        assert question.startswith("Question: ") and question.endswith(" Answer:")
        assert it["answer"] in story and validate_story(story).valid
        questions.add(question.split()[1])
    assert {"Who", "Where", "What"} <= questions


def test_tasks_are_deterministic_and_held_out() -> None:
    for name, build in TASK_BUILDERS.items():
        assert build(20, 3) == build(20, 3)
        assert build(20, 3) != build(20, 4)
        assert len({it["id"] for it in build(20, 3)}) == 20, name
    assert all(eval_seed(t, 0, i) >= EVAL_SEED_OFFSET > story_seed(0, i) for t in TASK_BUILDERS for i in range(100))
    train = set(iter_texts(200, seed=0))
    assert not train & {it["context"].split("\n")[0] for it in make_qa(50, seed=0)}
