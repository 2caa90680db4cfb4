"""Likelihood-ranked minimal-pair tasks: the storyworld builders make true minimal pairs from held-out
stories, ranking picks the choice the scorer prefers (and a scorer that cannot tell them apart scores
chance), the family scorer equals log-probs computed by hand, and `evaluate_run` runs them for AR and
LLaDA and skips them, saying why, for a family without a token likelihood."""

import math
import re

import pytest
import torch
import torch.nn.functional as F

from cola_core.config import ConfigError
from cola_core.data.storyworld.tasks import EVAL_SEED_OFFSET, TASK_BUILDERS, make_agreement, make_order
from cola_core.eval.ranked import make_loglik_fn, run_ranked_task
from cola_core.eval.tasks import TaskItem, item_from_record
from cola_core.registry import get_family
from cola_platform.evaluation import EvalRequest, builtin_items, evaluate_run, flat_metrics
from cola_platform.training.export import LoadedRun
from cola_platform.training.run_dir import RunDir
from test_cola_helpers import tiny_cfg, tiny_model
from token_model_helpers import story_tokenizer, tiny_token_model


@pytest.fixture(scope="module")
def tok():
    return story_tokenizer()


def build(tok, family: str, tmp_path) -> LoadedRun:
    cfg, model = tiny_token_model(tok, family, 48, **{"data.path": str(tmp_path / "nodata")})
    return LoadedRun(cfg=cfg, spec=get_family(family), model=model, tokenizer=tok, run=RunDir(tmp_path))


def test_order_pairs_swap_two_adjacent_words_of_a_real_sentence():
    for item in make_order(40, seed=1):
        good = item["answer"]
        (bad,) = [c for c in item["choices"] if c != good]
        g, b = good.split(), bad.split()
        diff = [i for i in range(len(g)) if g[i] != b[i]]
        assert len(g) == len(b) and len(diff) == 2 and diff[1] == diff[0] + 1
        assert (g[diff[0]], g[diff[1]]) == (b[diff[1]], b[diff[0]])
        assert item["type"] == "ranked" and item["context"] and not item["context"].endswith(" ")


def test_agreement_pairs_flip_one_subject_pronoun_and_balance_he_and_she():
    truths = []
    for item in make_agreement(40, seed=2):
        good = item["answer"]
        (bad,) = [c for c in item["choices"] if c != good]
        g, b = re.split(r"(\W+)", good), re.split(r"(\W+)", bad)
        diff = [(x, y) for x, y in zip(g, b) if x != y]
        assert len(g) == len(b) and len(diff) == 1 and {diff[0][0].lower(), diff[0][1].lower()} == {"he", "she"}
        truths.append(diff[0][0].lower())
    assert truths == ["he", "she"] * 20


def test_ranked_tasks_are_deterministic_held_out_and_shuffle_their_answers():
    for build_items in (make_order, make_agreement):
        items = build_items(60, seed=3)
        assert items == build_items(60, seed=3) != build_items(60, seed=4)
        first = sum(it["choices"][0] == it["answer"] for it in items)
        assert 15 <= first <= 45  # the answer is not always listed first
    assert {"sw-order", "sw-agreement"} <= set(TASK_BUILDERS) and EVAL_SEED_OFFSET == 1 << 63


def test_ranking_picks_the_preferred_choice_and_ties_score_chance():
    items = [item_from_record(r, "ranked", i, "sw-order") for i, r in enumerate(make_order(200, seed=5))]
    prefers_answer = {it.context: it.answer for it in items}

    def oracle(context, choices, seed):
        return [0.0 if c == prefers_answer[context] else -1.0 for c in choices]

    assert run_ranked_task("sw-order", items, oracle).accuracy == 1.0
    assert run_ranked_task("sw-order", items, lambda c, ch, s: [-v for v in oracle(c, ch, s)]).accuracy == 0.0
    tie = run_ranked_task("sw-order", items, lambda c, ch, s: [0.0] * len(ch))
    assert tie.chance == 0.5 and abs(tie.accuracy - 0.5) < 3 * tie.stderr and tie.scorer == "likelihood-ranked"


def test_ranked_items_need_their_answer_among_two_or_more_choices():
    with pytest.raises(ConfigError, match="ranked but its answer"):
        item_from_record({"context": "a", "answer": "x", "choices": ["y", "z"], "type": "ranked"}, "qa", 0, "f.jsonl")


def test_ar_loglik_equals_log_probs_by_hand(tok, tmp_path):
    run = build(tok, "ar", tmp_path)
    loglik = make_loglik_fn(run.spec, run.model, run.cfg, tok)
    context, choice = "Mia found her red kite.", "She was happy."
    row = [tok.eos_id, *tok.encode(context), *tok.encode(" " + choice)]
    n = len(tok.encode(" " + choice))
    with torch.no_grad():
        logp = F.log_softmax(run.model(torch.tensor([row[:-1]])), dim=-1)[0]  # (T-1, V)
    by_hand = sum(logp[t, row[t + 1]].item() for t in range(len(row) - 1 - n, len(row) - 1))
    (got,) = loglik(context, [choice], seed=0)
    assert math.isclose(got, by_hand, rel_tol=1e-5, abs_tol=1e-5)


def test_llada_scores_the_choices_of_one_item_on_the_same_draws(tok, tmp_path):
    run = build(tok, "llada", tmp_path)
    loglik = make_loglik_fn(run.spec, run.model, run.cfg, tok, mc_num=4)
    a, b = loglik("Mia found her red kite.", ["She was happy.", "She was happy."], seed=7)
    assert a == b  # identical choices, identical masks: a Monte Carlo estimate cannot split a tie
    assert loglik("Mia found her red kite.", ["She was happy."], seed=8)[0] != a


def test_evaluate_run_ranks_for_ar_and_skips_cola_with_a_reason(tok, tmp_path):
    req = EvalRequest(tasks=["sw-order", "sw-qa"], items=4, max_new_tokens=4, likelihood_batches=0)
    ar = evaluate_run(build(tok, "ar", tmp_path / "ar"), req)
    assert ar["tasks"]["sw-order"]["scorer"] == "likelihood-ranked" and ar["tasks"]["sw-order"]["n"] == 4
    assert ar["accuracy_mean"] == ar["tasks"]["sw-qa"]["accuracy"]  # the mean is over generative tasks only
    assert "sw_order_acc" in flat_metrics(ar) and ar["skipped_tasks"] == {}

    cfg = tiny_cfg(vocab_size=tok.vocab_size)
    cfg.data.seq_len, cfg.data.path, cfg.sampler.steps = 48, str(tmp_path / "nodata"), 2
    cfg.model.eos_id = tok.eos_id
    cola = LoadedRun(cfg=cfg, spec=get_family("cola"), model=tiny_model(cfg), tokenizer=tok, run=RunDir(tmp_path))
    record = evaluate_run(cola, req)
    assert "sw-order" not in record["tasks"] and "no token log-likelihood" in record["skipped_tasks"]["sw-order"]


def test_a_task_file_may_not_mix_ranked_and_generative_items(tok, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"context": "a", "answer": "x", "choices": ["x", "y"], "type": "ranked"}\n'
        '{"context": "b", "answer": "x", "type": "qa"}\n'
    )
    req = EvalRequest(tasks=[], task_files=[str(path)], items=2, max_new_tokens=4, likelihood_batches=0)
    with pytest.raises(ConfigError, match="mixes likelihood-ranked and generative"):
        evaluate_run(build(tok, "ar", tmp_path), req)


def test_builtin_ranked_items_load_as_task_items():
    items = builtin_items("sw-agreement", 3, 0)
    assert all(isinstance(it, TaskItem) and it.type == "ranked" and len(it.choices) == 2 for it in items)
