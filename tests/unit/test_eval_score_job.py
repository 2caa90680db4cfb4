"""Generation files in the official layout, the accuracy table, and `python -m jobs.score` end to end."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cola_core.config import ConfigError
from cola_core.eval.generations import GenerationRecord, read_generation_file, read_generations_dir, write_generations
from cola_core.eval.scorers import score_records
from cola_core.eval.summary import ordered_tasks, summary_csv, summary_rows

REPO = Path(__file__).resolve().parents[2]
MC = ["Oxygen", "Carbon dioxide", "Nitrogen", "Hydrogen"]


def line(i, generate, truth, **extra):
    return json.dumps({"id": i, "prompt": f"prompt {i}\nAnswer:", "generate": generate, "ground_truth": truth, **extra})


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def generations(tmp_path) -> Path:
    d = tmp_path / "gens"
    d.mkdir()
    write(
        d / "lambada.jsonl",
        [
            line(0, " signs, he said", "signs", few_shot_prefix="x", others={"a": 1}),
            line(1, "\nsign\n", "signs"),
            line(2, "", "Paris"),
            line(3, " Paris.", "Paris"),
        ],
    )
    write(
        d / "mmlu.jsonl",
        [
            line(0, " The answer is (C).", "Nitrogen", choices=MC, prompt_len_mod_patch_size=0),
            line(1, " Carbon dioxide", "Carbon dioxide", choices=MC, prompt_len_mod_patch_size=1),
            line(2, " (E)", "Oxygen", choices=MC, prompt_len_mod_patch_size=1),
        ],
    )
    write(
        d / "squad.jsonl",
        [
            line("a1", " Denver Broncos\nQuestion: x", "Denver Broncos"),
            line("a2", " the Broncos", "Broncos"),
            "",
            line("a3", "", ""),
        ],
    )
    return d


def run_score(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.score", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )


def test_jobs_score_writes_the_official_layout(generations, tmp_path):
    out = tmp_path / "scores"
    proc = run_score("--generations", str(generations), "--out", str(out), "--name", "my-model")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader((out / "accuracy_summary.csv").open()))
    assert rows == [
        ["task", "my-model"],
        ["lambada", "50.00"],
        ["mmlu", "66.67"],
        ["mmlu_mod0", "100.00"],
        ["mmlu_mod1", "50.00"],
        ["squad", "66.67"],
        ["tasks_average", "61.11"],
    ]
    correct = [json.loads(x) for x in (out / "lambada_correct.jsonl").read_text().splitlines()]
    wrong = [json.loads(x) for x in (out / "lambada_wrong.jsonl").read_text().splitlines()]
    assert [r["id"] for r in correct] == [0, 3] and [r["id"] for r in wrong] == [1, 2]
    assert correct[0]["few_shot_prefix"] == "x" and correct[0]["others"] == {"a": 1}  # extra fields kept
    mmlu_ok = [json.loads(x) for x in (out / "mmlu_correct.jsonl").read_text().splitlines()]
    assert mmlu_ok[0]["score"] == {
        "correct": True,
        "rule": "option_letter",
        "predicted_option": "C",
        "gold_option": "C",
    }
    assert [json.loads(x)["id"] for x in (out / "squad_wrong.jsonl").read_text().splitlines()] == ["a2"]
    result = json.loads((out / "result.json").read_text())
    assert result["tasks"]["mmlu"]["correct"] == 2 and result["tasks"]["mmlu"]["scorer"] == "official-options"
    assert result["tasks"]["mmlu"]["by_remainder"]["1"]["n"] == 2
    assert result["tasks_average"] == pytest.approx((50 + 200 / 3 + 200 / 3) / 3)
    assert "tasks_average" in proc.stdout


@pytest.mark.parametrize(
    "bad,fragment",
    [
        ("{not json", "bad.jsonl:2: not JSON"),
        (json.dumps({"id": 1, "prompt": "p", "ground_truth": "a"}), "bad.jsonl:2: missing generate"),
        (json.dumps([1, 2]), "bad.jsonl:2: is a JSON list, not an object"),
        (
            json.dumps({"id": 1, "prompt": "p", "generate": None, "ground_truth": "a"}),
            "bad.jsonl:2: generate is a NoneType",
        ),
        (
            json.dumps({"id": 1, "prompt": "p", "generate": "", "ground_truth": "a", "choices": "A,B"}),
            "bad.jsonl:2: choices is not a list",
        ),
    ],
)
def test_jobs_score_refuses_a_bad_file_in_one_line(generations, tmp_path, bad, fragment):
    write(generations / "bad.jsonl", [line(0, "x", "x"), bad])
    out = tmp_path / "scores"
    proc = run_score("--generations", str(generations), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert str(generations / fragment) in proc.stderr
    assert not out.exists()  # nothing written when any file is bad


def test_jobs_score_refuses_option_tasks_without_choices_and_odd_directories(generations, tmp_path):
    write(generations / "race.jsonl", [line(0, "x", "x", choices=["x", "y"]), line(1, "x", "x")])
    proc = run_score("--generations", str(generations), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert f"{generations / 'race.jsonl'}:2: race is scored by its option letters" in proc.stderr
    proc = run_score("--generations", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "is not a directory" in proc.stderr
    proc = run_score("--generations", str(generations), "--out", str(generations))
    assert proc.returncode == 2 and "choose another --out" in proc.stderr


def test_read_errors_name_file_and_line(tmp_path):
    f = write(
        tmp_path / "t.jsonl",
        [line(0, "a", "a"), "", json.dumps({"id": True, "prompt": "p", "generate": "g", "ground_truth": "a"})],
    )
    with pytest.raises(ConfigError, match=r"t\.jsonl:3: id is a bool"):
        read_generation_file(f)
    f.write_bytes(line(0, "a", "a").encode() + b"\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"t\.jsonl:2: not UTF-8"):
        read_generation_file(f)
    f.write_text("\n\n")
    with pytest.raises(ConfigError, match="holds no records"):
        read_generation_file(f)
    bad_mod = write(tmp_path / "m.jsonl", [line(0, "a", "a", prompt_len_mod_patch_size=-1)])
    with pytest.raises(ConfigError, match=r"m\.jsonl:1: prompt_len_mod_patch_size is -1"):
        read_generation_file(bad_mod)


def test_generations_round_trip_and_directory_replacement(tmp_path):
    recs = [
        GenerationRecord(
            id="q1",
            prompt="P\u2028x",
            generate=" A\n",
            ground_truth="A",
            choices=("A", "B"),
            type="multiple_choice",
            prompt_len_mod_patch_size=1,
        )
    ]
    d = write_generations(tmp_path / "generations", {"sw-cloze": recs, "old": recs})
    write_generations(d, {"sw-cloze": recs})  # an evaluation's own directory is replaced whole
    back = read_generations_dir(d)
    assert list(back) == ["sw-cloze"] and back["sw-cloze"] == recs  # U+2028 inside a prompt survives
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="was not written by an evaluation"):
        write_generations(foreign, {"x": recs})
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_summary_rows_order_and_average_excludes_remainder_rows():
    def task(name, flags, mods=None):
        recs = [
            GenerationRecord(
                id=i,
                prompt="p",
                generate="a" if ok else "b",
                ground_truth="a",
                prompt_len_mod_patch_size=None if mods is None else mods[i],
            )
            for i, ok in enumerate(flags)
        ]
        return score_records(name, recs)

    rows = summary_rows([task("zeta", [True]), task("squad", [True, False], mods=[0, 1]), task("hellaswag", [False])])
    assert rows == [
        ("hellaswag", 0.0),
        ("squad", 50.0),
        ("squad_mod0", 100.0),
        ("squad_mod1", 0.0),
        ("zeta", 100.0),
        ("tasks_average", 50.0),
    ]
    assert summary_csv([("story_cloze", 30.769230), ("tasks_average", 26.7451)], "a,b").splitlines() == [
        'task,"a,b"',
        "story_cloze,30.77",
        "tasks_average,26.75",
    ]
    assert ordered_tasks(["x", "story_cloze", "LAMBADA", "mmlu"]) == ["LAMBADA", "mmlu", "story_cloze", "x"]
