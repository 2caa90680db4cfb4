"""Task formats, few-shot assembly and the paper's generative scoring rules."""

import json

import pytest

from cola_core.config import ConfigError
from cola_core.eval.harness import run_task
from cola_core.eval.scoring import accuracy_with_stderr, cut_generation, normalize, score, token_f1
from cola_core.eval.tasks import TaskItem, build_prompts, load_jsonl_tasks


def mc(i: int) -> TaskItem:
    return TaskItem(id=str(i), type="multiple_choice", context=f"Q{i}?", choices=("red fox", "blue owl", "green cat"),
                    answer=("red fox", "blue owl", "green cat")[i % 3])


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
    ours.write_text("\n".join(json.dumps(r) for r in [
        {"context": "c", "answer": "a", "type": "qa"},
        {"context": "c", "answer": "x", "choices": ["x", "y"], "type": "multiple_choice"}]))
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
