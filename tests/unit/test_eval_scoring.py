"""Task formats, few-shot assembly, the storyworld scorer, and which scorer a task gets."""

import json

import pytest

from cola_core.config import ConfigError
from cola_core.data.storyworld.tasks import TASK_BUILDERS
from cola_core.eval.generations import GenerationRecord
from cola_core.eval.harness import check_items, run_task
from cola_core.eval.scorers import OFFICIAL_TASKS, check_records, score_records, scorer_for
from cola_core.eval.scoring import accuracy_with_stderr, cut_generation, normalize, score, token_f1
from cola_core.eval.tasks import TYPES, TaskItem, build_prompts, item_from_record, load_jsonl_tasks


def mc(i: int) -> TaskItem:
    return TaskItem(
        id=str(i),
        type="multiple_choice",
        context=f"Q{i}?",
        choices=("red fox", "blue owl", "green cat"),
        answer=("red fox", "blue owl", "green cat")[i % 3],
    )


def test_lambada_scores_first_word_only():
    item = TaskItem(id="0", type="lambada", context="... and she thanked", answer="Tobin")
    assert score(item, " Tobin, who smiled.").correct
    assert not score(item, " Mira and Tobin").correct


def test_multiple_choice_needs_the_exact_option_or_its_letter():
    item = mc(1)
    assert score(item, " Blue owl.\nQuestion: next").correct
    assert score(item, " (B)").correct
    assert not score(item, " blue").correct
    assert not score(item, " (A)").correct


def test_qa_exact_match_and_f1():
    item = TaskItem(id="0", type="qa", context="Question: where? Answer:", answer="the old mill")
    s = score(item, " old mill\n")
    assert s.correct and s.f1 == 1.0
    partial = score(item, " the mill by the river")
    assert not partial.correct and 0 < partial.f1 < 1
    assert token_f1("x", "y") == 0.0


def test_cut_and_normalize():
    assert cut_generation("\n Tobin went home.\nNext story") == "\n Tobin went home."
    assert normalize("The  Old, Mill!") == "old mill"


def test_stderr_is_binomial():
    acc, se = accuracy_with_stderr([True] * 30 + [False] * 70)
    assert acc == pytest.approx(0.3) and se == pytest.approx((0.3 * 0.7 / 100) ** 0.5)


def test_k_shot_prompts_are_seeded_and_exclude_the_item():
    items = [mc(i) for i in range(10)]
    a, b = build_prompts(items, 2, seed=3), build_prompts(items, 2, seed=3)
    assert a == b and build_prompts(items, 2, seed=4) != a
    for item, prompt in zip(items, a):
        parts = prompt.split("\n\n")
        assert len(parts) == 3 and parts[-1] == item.render()
        assert item.render(with_answer=True) not in parts[:-1]


def test_both_file_formats_and_bad_files(tmp_path):
    ours = tmp_path / "mine.jsonl"
    ours.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"context": "c", "answer": "a", "type": "qa"},
                {"context": "c", "answer": "x", "choices": ["x", "y"], "type": "multiple_choice"},
            ]
        )
    )
    assert [i.type for i in load_jsonl_tasks(ours)] == ["qa", "multiple_choice"]
    paper = tmp_path / "lambada.jsonl"
    paper.write_text(json.dumps({"id": 1, "prompt": "He said", "ground_truth": "hello"}))
    (item,) = load_jsonl_tasks(paper)
    assert item.type == "lambada" and build_prompts([item], 2, 0) == ["He said"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"context": "c", "answer": "z", "choices": ["x", "y"], "type": "multiple_choice"}))
    with pytest.raises(ConfigError, match="not one of"):
        load_jsonl_tasks(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="line 1 is not JSON"):
        load_jsonl_tasks(bad)


def test_run_task_with_an_oracle_and_a_wrong_model():
    items = [mc(i) for i in range(12)]
    answers = {it.render(): it.answer for it in items}

    def oracle(prompts, max_new_tokens):
        return [" " + answers[p.split("\n\n")[-1]] + "\n" for p in prompts]

    good = run_task("toy", items, oracle)
    bad = run_task("toy", items, lambda prompts, n: [" nothing"] * len(prompts))
    assert good.accuracy == 1.0 and good.k_shot == 2 and bad.accuracy == 0.0


def paper_item(i: int, answer: str = "Nitrogen") -> TaskItem:
    return TaskItem(
        id=str(i),
        type="qa",
        answer=answer,
        prompt=f"Question {i}?\n(A) Oxygen\n(B) Nitrogen\nAnswer:",
        choices=("Oxygen", "Nitrogen"),
    )


def record(generation: str, answer: str, kind: str | None = None, choices=()) -> GenerationRecord:
    return GenerationRecord(id=0, prompt="p", generate=generation, ground_truth=answer, type=kind, choices=choices)


@pytest.mark.parametrize(
    "task,scorer",
    [
        ("lambada", "official-lambada"),
        ("LAMBADA", "official-lambada"),
        ("mmlu", "official-options"),
        ("obqa", "official-options"),
        ("race", "official-options"),
        ("siqa", "official-options"),
        ("hellaswag", "official-exact"),
        ("squad", "official-exact"),
        ("story_cloze", "official-exact"),
        ("lambada_openai", "official-exact"),
        ("my_task", "official-exact"),
    ],
)
def test_scorer_is_chosen_by_task_name(task, scorer):
    assert scorer_for(task, [record("x", "x", choices=("x", "y"))]).name == scorer


def test_project_format_records_get_the_storyworld_scorer_unless_the_name_is_official():
    typed = [record(" the old mill", "old mill", "qa")]
    assert scorer_for("sw-qa", typed).name == "storyworld"
    assert score_records("sw-qa", typed).correct == 1  # storyworld drops articles
    assert score_records("squad", typed).correct == 0  # the official rule keeps them
    assert scorer_for("mine", typed + [record("a", "a")]).name == "official-exact"  # not every record typed
    assert len(OFFICIAL_TASKS) == 8


def test_storyworld_tasks_carry_types_the_scorer_knows():
    for name, build in TASK_BUILDERS.items():
        items = [item_from_record(r, r["type"], i, name) for i, r in enumerate(build(2, 0))]
        if items[0].type == "ranked":  # scored by likelihood, not generated: tests/unit/test_ranked_tasks.py
            continue
        assert all(it.type in TYPES for it in items)
        result = run_task(name, items, lambda prompts, n: [""] * len(prompts))
        assert result.scorer == "storyworld" and all(r.type in TYPES for r in result.records)


def test_storyworld_lambada_differs_from_the_official_rule():
    # storyworld takes the raw first word ("..."); the official rule normalises the cut text first
    rec = record(" ... Tobin", "Tobin", "lambada")
    assert score_records("sw-lambada", [rec]).correct == 0
    assert score_records("lambada", [rec]).correct == 1


def test_option_tasks_need_choices_and_remainders_all_or_none():
    with pytest.raises(ConfigError, match=r"mmlu\.jsonl:7: mmlu is scored by its option letters"):
        check_records("mmlu", [GenerationRecord(id=1, prompt="p", generate="", ground_truth="a", line=7)], "mmlu.jsonl")
    check_records("squad", [GenerationRecord(id=1, prompt="p", generate="", ground_truth="a")], "squad.jsonl")
    mixed = [
        GenerationRecord(
            id=i, prompt="p", generate="", ground_truth="a", line=i + 1, prompt_len_mod_patch_size=None if i == 2 else 1
        )
        for i in range(3)
    ]
    with pytest.raises(ConfigError, match="x.jsonl:3: prompt_len_mod_patch_size is set on some"):
        check_records("x", mixed, "x.jsonl")
    with pytest.raises(ConfigError, match="needs.jsonl:1"):
        check_items("mmlu", [TaskItem(id="0", type="qa", answer="a", prompt="p")], "needs.jsonl")


def test_run_task_uses_the_official_rules_records_and_remainders():
    items = [paper_item(i, ("Oxygen", "Nitrogen")[i % 2]) for i in range(6)]
    replies = [" The answer is (B).", " Nitrogen", " (A)", "", " Oxygen\nQuestion", " (C)"]

    def generate(prompts, n):
        return [replies[int(p.split()[1].rstrip("?"))] for p in prompts]

    result = run_task("obqa", items, generate, remainders=lambda prompts: [len(p) % 2 for p in prompts])
    # item 0 (gold A): B wrong; 1 (B): text right; 2 (A): right; 3: empty wrong; 4 (A): right; 5 (B): C names nothing
    assert result.scorer == "official-options" and result.accuracy == pytest.approx(3 / 6)
    assert result.k_shot == 0  # the prompts are used verbatim: no demonstrations added
    assert [r.generate for r in result.records] == replies
    assert all(r.prompt_len_mod_patch_size == len(r.prompt) % 2 for r in result.records)
    assert sum(s["n"] for s in result.by_remainder.values()) == 6
    assert "records" not in result.to_dict() and result.to_dict()["by_remainder"] == result.by_remainder
    assert run_task("obqa", items, generate).by_remainder == {}


def test_paper_format_items_keep_their_choices(tmp_path):
    f = tmp_path / "mmlu.jsonl"
    f.write_text(
        json.dumps(
            {"id": 3, "prompt": "Q\nAnswer:", "ground_truth": "4", "choices": ["0", "4"], "few_shot_prefix": "ignored"}
        )
        + "\n"
    )
    (item,) = load_jsonl_tasks(f)
    assert item.choices == ("0", "4") and item.prompt == "Q\nAnswer:"
    f.write_text(json.dumps({"id": 3, "prompt": "Q", "ground_truth": "4", "choices": "0,4"}))
    with pytest.raises(ConfigError, match="choices"):
        load_jsonl_tasks(f)
    f.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="line 1 is a JSON list"):
        load_jsonl_tasks(f)
