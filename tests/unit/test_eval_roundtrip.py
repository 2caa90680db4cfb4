"""evaluate_run (what `jobs.eval` runs) on a tiny patch-size-2 Cola model writes its generations in the
official layout, with the prompt-length remainder per item; `jobs.score` on them reproduces its accuracies."""

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from cola_core.config import ConfigError
from cola_core.data.storyworld import generate_story
from cola_core.data.tokenizer import train_bpe
from cola_core.eval.generate import encode_prompts, make_remainders_fn, make_truncation_counter, max_prompt_tokens
from cola_core.eval.official import cut_generation
from cola_core.eval.scorers import OFFICIAL_TASKS
from cola_core.registry import get_family
from cola_platform.evaluation import EvalRequest, evaluate_run, flat_metrics, paper_task_files
from cola_platform.training.export import LoadedRun
from cola_platform.training.run_dir import RunDir
from jobs import score as score_job
from test_cola_helpers import tiny_cfg, tiny_model

MC = ["a red fox", "a blue owl", "a green cat", "a grey dog"]
MAX_NEW = 4


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> LoadedRun:
    torch.set_num_threads(1)
    tok = train_bpe((generate_story(i).text for i in range(40)), vocab_size=300)
    cfg = tiny_cfg(patch_size=2, vocab_size=tok.vocab_size)
    cfg.data.seq_len, cfg.data.path = 128, str(tmp_path_factory.mktemp("nodata") / "missing")
    cfg.sampler.temperature, cfg.sampler.steps = 0.0, 2
    root = tmp_path_factory.mktemp("run")
    return LoadedRun(cfg=cfg, spec=get_family("cola"), model=tiny_model(cfg), tokenizer=tok, run=RunDir(root))


def paper_files(d: Path, answers: dict[str, list[str]] | None = None) -> list[str]:
    """mmlu.jsonl and squad.jsonl with prompts of growing length (so both remainders occur)."""
    d.mkdir(exist_ok=True)
    words = "the fox ran to the old mill by the river at dawn".split()
    for task in ("mmlu", "squad"):
        rows = []
        for i in range(8):
            prompt = (
                f"Question: {' '.join(words[: i + 2])}?"
                + ("\n" + "\n".join(f"({c}) {o}" for c, o in zip("ABCD", MC)) if task == "mmlu" else "")
                + "\nAnswer:"
            )
            truth = answers[task][i] if answers else (MC[i % 4] if task == "mmlu" else "the mill")
            extra = {"choices": MC} if task == "mmlu" else {}
            rows.append({"id": i, "prompt": prompt, "ground_truth": truth, **extra})
        (d / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [str(d / "mmlu.jsonl"), str(d / "squad.jsonl")]


def evaluate(loaded: LoadedRun, files: list[str], gens: Path) -> dict:
    req = EvalRequest(
        tasks=["sw-qa"],
        task_files=files,
        items=3,
        max_new_tokens=MAX_NEW,
        likelihood_batches=0,
        generations_dir=str(gens),
    )
    return evaluate_run(loaded, req)


def test_eval_generations_rescore_to_the_same_accuracies(loaded, tmp_path):
    first = evaluate(loaded, paper_files(tmp_path / "tasks1"), tmp_path / "gens1")
    gens = {
        t: [json.loads(x) for x in (tmp_path / "gens1" / f"{t}.jsonl").read_text().splitlines()]
        for t in ("mmlu", "squad", "sw-qa")
    }
    assert first["generations"] == str(tmp_path / "gens1") and first["patch_size"] == 2
    assert all(g["choices"] == MC and g["prompt_len_mod_patch_size"] in (0, 1) for g in gens["mmlu"])
    assert all("type" not in g for g in gens["squad"]) and all(g["type"] == "qa" for g in gens["sw-qa"])
    # ground truths that the (deterministic, greedy) model's own outputs match on even items
    own = {
        "squad": [cut_generation(g["generate"]) if i % 2 == 0 else "zzz" for i, g in enumerate(gens["squad"])],
        "mmlu": [MC[i % 4] for i in range(8)],
    }
    record = evaluate(loaded, paper_files(tmp_path / "tasks2", own), tmp_path / "gens2")
    assert record["tasks"]["squad"]["accuracy"] >= 0.5
    assert record["tasks"]["mmlu"]["scorer"] == "official-options"
    assert record["tasks"]["squad"]["scorer"] == "official-exact" and record["tasks"]["sw-qa"]["scorer"] == "storyworld"

    out = tmp_path / "scores"
    assert score_job.main(["--generations", str(tmp_path / "gens2"), "--out", str(out)]) == 0
    scored = json.loads((out / "result.json").read_text())
    assert set(scored["tasks"]) == set(record["tasks"]) == {"mmlu", "squad", "sw-qa"}
    for task, mine in record["tasks"].items():
        theirs = scored["tasks"][task]
        assert theirs["accuracy"] == mine["accuracy"] and theirs["n"] == mine["n"], task
        assert theirs["by_remainder"] == mine["by_remainder"], task
    assert set(record["tasks"]["squad"]["by_remainder"]) == {"0", "1"}
    rows = dict(line.split(",") for line in (out / "accuracy_summary.csv").read_text().splitlines()[1:])
    assert float(rows["squad"]) == pytest.approx(100 * record["tasks"]["squad"]["accuracy"], abs=0.005)
    assert {"squad_mod0", "squad_mod1", "mmlu_mod0", "mmlu_mod1"} <= set(rows)
    metrics = flat_metrics({**record, "tokens_per_second": 0.0})
    assert metrics["squad_mod1_acc"] == record["tasks"]["squad"]["by_remainder"]["1"]["accuracy"]


def test_remainder_is_the_prompt_length_the_sampler_sees(loaded):
    cfg, tok = loaded.cfg, loaded.tokenizer
    prompts = ["Mira went", "Mira went to the mill ", "", "x" * 400]
    remainders = make_remainders_fn(cfg, tok, MAX_NEW)
    ids = encode_prompts(tok, prompts, max_prompt_tokens(cfg, MAX_NEW))
    expected = [len(x) % 2 for x in ids[:2]] + [1, max_prompt_tokens(cfg, MAX_NEW) % 2]  # blank: [eos]; long: cut
    assert remainders(prompts) == expected
    cfg1 = tiny_cfg(patch_size=1)
    assert make_remainders_fn(cfg1, tok, MAX_NEW) is None
    assert make_truncation_counter(cfg, tok, MAX_NEW)(prompts) == 1


def test_paper_tasks_run_all_eight_and_count_truncated_prompts(loaded, tmp_path, caplog):
    d = tmp_path / "paper"
    with pytest.raises(ConfigError, match="is not a directory"):
        paper_task_files(d)
    d.mkdir()
    with pytest.raises(ConfigError, match="lacks lambada.jsonl, mmlu.jsonl"):
        paper_task_files(d)
    long_prompt = "the fox ran to the mill " * 60 + "\nAnswer:"  # far over the 124-token prompt budget
    for task in OFFICIAL_TASKS:
        rows = [
            {"id": 0, "prompt": "Question: where?\nAnswer:", "ground_truth": MC[0]},
            {"id": 1, "prompt": long_prompt, "ground_truth": MC[1]},
        ]
        if task not in ("lambada", "squad"):
            rows = [{**r, "choices": MC} for r in rows]
        (d / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = paper_task_files(d)
    assert [Path(f).stem for f in files] == list(OFFICIAL_TASKS)
    req = EvalRequest(
        tasks=[], task_files=files, max_new_tokens=MAX_NEW, likelihood_batches=0, generations_dir=str(tmp_path / "gens")
    )
    with caplog.at_level("WARNING"):
        record = evaluate_run(loaded, req)
    assert list(record["tasks"]) == list(OFFICIAL_TASKS)
    assert all(r["truncated_prompts"] == 1 and r["k_shot"] == 0 for r in record["tasks"].values())
    assert "race: 1 of 2 prompts are longer than the model's context allows" in caplog.text
    assert flat_metrics({**record, "tokens_per_second": 0.0})["race_truncated_prompts"] == 1
    assert sorted(p.stem for p in (tmp_path / "gens").glob("*.jsonl")) == sorted(OFFICIAL_TASKS)


def test_the_continuation_task_scores_every_remainder_of_held_out_sequences(loaded, tmp_path):
    from cola_platform.data.synthetic import prepare_synthetic

    prepare_synthetic(str(tmp_path / "data"), num_docs=60)
    run = dataclasses.replace(loaded, cfg=copy.deepcopy(loaded.cfg))
    run.cfg.data.path = str(tmp_path / "data")
    record = evaluate_run(run, EvalRequest(tasks=["continuation"], items=5, likelihood_batches=0))
    c = record["continuation"]
    assert c["n"] == 10 and c["new_tokens"] == 2 and record["tasks"] == {}
    assert {r: s["n"] for r, s in c["by_remainder"].items()} == {"0": 5, "1": 5}
    assert 0.0 <= c["accuracy"] <= 1.0
    assert flat_metrics(record)["continuation_mod1_acc"] == c["by_remainder"]["1"]["accuracy"]
