"""Tests of the storyworld training corpus: mix of plain stories and task-format documents."""

from __future__ import annotations

import collections

import pytest

from cola_core.data.storyworld import (
    DEFAULT_MIX,
    EVAL_SEED_OFFSET,
    MC_SHARE,
    QA_SHARE,
    CorpusMix,
    Plan,
    corpus_document,
    eval_seed,
    generate_story,
    iter_documents,
    iter_stories,
    iter_texts,
    make_cloze,
    make_lambada,
    make_qa,
    story_seed,
    validate_story,
)
from cola_core.data.storyworld.corpus import doc_kind
from cola_core.data.storyworld.formats import qa_line
from cola_core.eval.tasks import TaskItem, build_prompts

N_DOCS = 2000


@pytest.fixture(scope="module")
def docs() -> list:
    return list(iter_documents(N_DOCS, seed=0))


def _expected_answer(question: str, plan: Plan) -> str:
    """The answer to ``question`` read off the plan (independently of ``formats.questions``)."""
    hero, g = plan.hero.name, plan.goal
    expected = {
        "Who is the main character of the story?": hero,
        "Where did the story take place?": plan.place.text,
        f"What did {hero} lose?": g.obj.text if g.kind == "find" else None,
        f"What did {hero} have to bring?": g.obj.text if g.kind == "deliver" else None,
        f"Where did {hero} want to go?": g.dest.text if g.kind == "reach" else None,
        f"Who did {hero} want to help?": g.friend if g.kind == "help" else None,
        f"What did {hero} want to win?": g.contest.text if g.kind == "win" else None,
        f"Who was the friend of {hero}?": plan.friends[0].name if len(plan.friends) == 1 else None,
        f"Who tried to stop {hero}?": plan.rival.name if plan.rival is not None else None,
    }
    answer = expected.get(question)
    assert answer is not None, f"question {question!r} does not fit the plan"
    return answer


# ---------------------------------------------------------------- mix


def test_default_shares_are_documented_and_plain_stories_stay_the_majority() -> None:
    assert (DEFAULT_MIX.qa_share, DEFAULT_MIX.mc_share) == (QA_SHARE, MC_SHARE)
    assert DEFAULT_MIX.shares["story"] > 0.5
    assert 0.15 <= QA_SHARE + MC_SHARE <= 0.3
    assert abs(sum(DEFAULT_MIX.shares.values()) - 1) < 1e-12


def test_share_of_each_kind_matches_the_documented_share(docs: list) -> None:
    counts = collections.Counter(d.kind for d in docs)
    for kind, share in DEFAULT_MIX.shares.items():  # binomial sd <= 0.011 at n=2000; 0.035 is > 3 sd
        assert abs(counts[kind] / N_DOCS - share) < 0.035, (kind, counts)
    mix = CorpusMix(qa_share=0.3, mc_share=0.2)
    counts = collections.Counter(doc_kind(story_seed(1, i), mix) for i in range(N_DOCS))
    for kind, share in mix.shares.items():
        assert abs(counts[kind] / N_DOCS - share) < 0.035, (kind, counts)


def test_mix_validation_and_all_plain_mix() -> None:
    for bad in ({"qa_share": -0.1}, {"mc_share": 1.1}, {"qa_share": 0.6, "mc_share": 0.5}, {"max_qa_lines": 0}):
        with pytest.raises(ValueError):
            CorpusMix(**bad)
    plain = CorpusMix(qa_share=0.0, mc_share=0.0)
    assert list(iter_texts(30, seed=2, mix=plain)) == [s.text for s in iter_stories(30, seed=2)]


def test_plain_documents_are_the_plain_stories(docs: list) -> None:
    for i, doc in enumerate(docs[:300]):
        if doc.kind == "story":
            assert doc.text == generate_story(story_seed(0, i)).text
        elif doc.kind == "qa":  # a QA document starts with the plain story of the same seed
            assert doc.story.text == generate_story(story_seed(0, i)).text


# ---------------------------------------------------------------- formats and answers


def test_qa_documents_answer_their_own_story(docs: list) -> None:
    lines = collections.Counter()
    for doc in (d for d in docs if d.kind == "qa"):
        story, *qa = doc.text.split("\n\n")[-1].split("\n")
        assert story == doc.story.text and validate_story(story).valid
        assert 1 <= len(qa) <= DEFAULT_MIX.max_qa_lines and len(qa) == len(doc.pairs)
        lines[len(qa)] += 1
        parsed = []
        for line in qa:
            assert line.startswith("Question: ") and line.count(" Answer: ") == 1, line
            question, answer = line[len("Question: ") :].split(" Answer: ")
            parsed.append((question, answer))
            assert answer == _expected_answer(question, doc.story.plan)
            assert answer in story
        assert parsed == doc.pairs and len(set(parsed)) == len(parsed)
    assert set(lines) == set(range(1, DEFAULT_MIX.max_qa_lines + 1))


def test_qa_documents_use_the_evaluation_format(docs: list) -> None:
    for doc in (d for d in docs if d.kind == "qa"):
        (question, answer), *_ = doc.pairs
        item = TaskItem(id="x", type="qa", answer=answer, context=doc.story.text + qa_line(question))
        own = doc.text[len(doc.demo) + 2 :] if doc.demo else doc.text
        assert own.startswith(item.render(with_answer=True))
    real = make_qa(5, seed=0)[0]  # the evaluation builder uses the same line layout
    assert real["context"].endswith(" Answer:") and "\nQuestion: " in real["context"]
    for it in make_qa(50, seed=0):
        story, question = it["context"].split("\nQuestion: ")
        assert it["context"] == story + qa_line(question[: -len(" Answer:")])


def test_mc_documents_render_like_task_items(docs: list) -> None:
    mcs = [d for d in docs if d.kind == "mc"]
    for doc in mcs:
        context = " ".join(doc.story.sentences[:-1])
        item = TaskItem(id="x", type="multiple_choice", answer=doc.answer, context=context, choices=tuple(doc.choices))
        own = doc.text[len(doc.demo) + 2 :] if doc.demo else doc.text
        assert own == item.render(with_answer=True)
        assert own.startswith(item.render()) and doc.text.endswith(f"\nAnswer: {doc.answer}")
        assert doc.answer in doc.choices and len(set(doc.choices)) == 4  # the answer re-draws word choices
        fits = [validate_story(f"{context} {c}").valid for c in doc.choices]
        assert fits.count(True) == 1 and fits[doc.choices.index(doc.answer)]
    assert {d.choices.index(d.answer) for d in mcs} == {0, 1, 2, 3}


def test_mc_documents_match_evaluation_demonstrations() -> None:
    """A 1-shot evaluation prompt plus its answer has the layout of a demonstrated training document."""
    items = [
        TaskItem(id=r["id"], type=r["type"], answer=r["answer"], context=r["context"], choices=tuple(r["choices"]))
        for r in make_cloze(6, seed=0)
    ]
    prompt = build_prompts(items, k_shot=1, seed=0)[0] + " " + items[0].answer
    doc = next(d for d in iter_documents(400, seed=0) if d.kind == "mc" and d.demo)

    def shape(text: str) -> list[str]:
        return [
            line[:4] if line.startswith("(") else line[:8] if line.startswith("Answer: ") or not line else "<context>"
            for line in text.split("\n")
        ]

    block = ["<context>", "(A) ", "(B) ", "(C) ", "(D) ", "Answer: "]
    assert shape(prompt) == shape(doc.text) == [*block, "", *block]
    for item in prompt.split("\n\n"):  # each answer is an option's text
        assert f") {item.rsplit(chr(10) + 'Answer: ', 1)[1]}\n" in item


def test_qa_demonstrations_match_one_shot_prompts() -> None:
    """A 1-shot sw-qa prompt plus its answer has the layout of a demonstrated QA document."""
    items = [TaskItem(id=r["id"], type=r["type"], answer=r["answer"], context=r["context"]) for r in make_qa(6, seed=0)]
    prompt = build_prompts(items, k_shot=1, seed=0)[0] + " " + items[0].answer
    doc = next(d for d in iter_documents(400, seed=0) if d.kind == "qa" and d.demo and len(d.pairs) == 1)

    def shape(text: str) -> list[str]:
        return [
            "Question:|Answer: " if line.startswith("Question: ") and " Answer: " in line else "<story>" if line else ""
            for line in text.split("\n")
        ]

    assert shape(prompt) == shape(doc.text) == ["<story>", "Question:|Answer: ", "", "<story>", "Question:|Answer: "]


def test_demonstrations_are_complete_items_of_the_same_kind(docs: list) -> None:
    demos = [d for d in docs if d.demo]
    share = len(demos) / sum(d.kind != "story" for d in docs)
    assert abs(share - DEFAULT_MIX.demo_share) < 0.07 and not any(d.demo for d in docs if d.kind == "story")
    for doc in demos:
        assert doc.text.startswith(doc.demo + "\n\n") and doc.text.count("\n\n") == 1
        if doc.kind == "qa":
            story, question = doc.demo.split("\n")
            _, a = question[len("Question: ") :].split(" Answer: ")
            assert validate_story(story).valid and a in story and story != doc.story.text
        else:
            assert doc.demo.split("\n")[1].startswith("(A) ") and doc.demo.count("\nAnswer: ") == 1


# ---------------------------------------------------------------- determinism and held-out stories


def test_determinism_and_split_ranges() -> None:
    whole = list(iter_texts(120, seed=5))
    assert whole == list(iter_texts(120, seed=5))
    parts = list(iter_texts(37, 5, 0)) + list(iter_texts(50, 5, 37)) + list(iter_texts(33, 5, 87))
    assert parts == whole
    assert [corpus_document(story_seed(5, i)).text for i in (3, 77, 119)] == [whole[3], whole[77], whole[119]]
    assert whole != list(iter_texts(120, seed=6))
    assert {d.kind for d in iter_documents(120, seed=5)} == {"story", "qa", "mc"}


def test_no_training_story_is_an_evaluation_story(docs: list) -> None:
    n = 300
    assert all(
        story_seed(0, i) < EVAL_SEED_OFFSET <= eval_seed(t, 0, i)
        for t in ("sw-lambada", "sw-cloze", "sw-qa")
        for i in range(N_DOCS)
    )
    lambada = [it["context"] + it["answer"] + "." for it in make_lambada(n, seed=0)]
    cloze = [it["context"] for it in make_cloze(n, seed=0)]
    qa = [it["context"].split("\n")[0] for it in make_qa(n, seed=0)]
    assert len(set(lambada)) == len(set(cloze)) == len(set(qa)) == n
    train = {d.story.text for d in docs} | {" ".join(d.story.sentences[:-1]) for d in docs}
    assert not train & set(lambada) and not train & set(cloze) and not train & set(qa)
    texts = "\n\n".join(d.text for d in docs)  # demonstrations' stories included
    assert not any(story in texts for story in lambada + cloze + qa)
