"""The lm-eval adapter, offline: local generate_until and loglikelihood_rolling tasks, log-likelihood
requests per family."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ROLLING_YAML = """task: sw_rolling_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
metadata:
  version: 1.0
"""


def job(*args):
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmeval")
    job(
        "jobs.prepare_data",
        "--source",
        "storyworld",
        "--num-docs",
        "800",
        "--seq-len",
        "64",
        "--vocab-size",
        "400",
        "--out",
        str(root / "data"),
        "--engine",
        "local",
    )
    out = {}
    for family in ("ar", "llada"):
        out[family] = root / family
        job(
            "jobs.train",
            "--family",
            family,
            "--preset",
            "tiny",
            "--data",
            str(root / "data"),
            "--steps",
            "3",
            "--out",
            str(out[family]),
            "--set",
            "train.micro_batch_size=4",
            "--set",
            "train.eval_batches=1",
        )
    return root, out


def test_local_generate_until_task(runs, tmp_path):
    from cola_core.data.storyworld.tasks import make_lambada

    root, out = runs
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tasks / "sw_lambada_local.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in make_lambada(6, seed=0)))
    yaml_text = (REPO / "tests" / "assets" / "lm_eval_tasks" / "sw_lambada_local.yaml").read_text()
    (tasks / "sw_lambada_local.yaml").write_text(yaml_text.replace("test: sw_lambada_local.jsonl", f"test: {data}"))
    result_file = tmp_path / "lm_eval.json"
    job(
        "jobs.lm_eval",
        "--run",
        str(out["ar"]),
        "--tasks",
        "sw_lambada_local",
        "--include-path",
        str(tasks),
        "--out",
        str(result_file),
    )
    result = json.loads(result_file.read_text())
    metrics = result["results"]["sw_lambada_local"]
    score = next(v for k, v in metrics.items() if k.startswith("exact_match"))
    assert result["family"] == "ar" and 0.0 <= score <= 1.0


def test_loglikelihood_per_family(runs):
    from cola_platform.lm_eval_adapter import PlatformLM

    class Req:
        def __init__(self, *args):
            self.args = args

    _, out = runs
    ar = PlatformLM(str(out["ar"]))
    (ll_good, _), (ll_bad, _) = ar.loglikelihood(
        [Req("Once upon a time, there was", " a"), Req("Once upon a time, there was", " zzq xqz zzq")]
    )
    assert ll_good < 0 and ll_bad < ll_good  # longer, unlikely continuation scores lower
    llada = PlatformLM(str(out["llada"]), mc_num=8)
    ((ll, greedy),) = llada.loglikelihood([Req("Once upon a time", " there was")])
    assert ll < 0 and greedy is False
    gen = ar.generate_until([Req("Once upon a time", {"until": ["."], "max_gen_toks": 6})])
    assert isinstance(gen[0], str) and "." not in gen[0]


def test_rolling_task_scores_whole_documents(runs, tmp_path):
    """A perplexity task through the job equals the adapter's rolling sums over documents longer than the context."""
    from cola_core.data.storyworld import generate_story
    from cola_platform.lm_eval_adapter import PlatformLM

    class Req:
        def __init__(self, *args):
            self.args = args

    _, out = runs
    docs = [" ".join(generate_story(i).text for i in range(k, k + 3)) for k in (500, 510, 520)]
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tasks / "docs.jsonl"
    data.write_text("\n".join(json.dumps({"text": d}) for d in docs))
    (tasks / "sw_rolling_local.yaml").write_text(ROLLING_YAML.format(data=data))
    result_file = tmp_path / "rolling.json"
    job(
        "jobs.lm_eval",
        "--run",
        str(out["ar"]),
        "--tasks",
        "sw_rolling_local",
        "--include-path",
        str(tasks),
        "--batch-size",
        "4",
        "--out",
        str(result_file),
    )
    bits_per_byte = json.loads(result_file.read_text())["results"]["sw_rolling_local"]["bits_per_byte,none"]
    model = PlatformLM(str(out["ar"]))
    assert all(len(model.tok_encode(d)) > 3 * model.max_length for d in docs)
    lls = model.loglikelihood_rolling([Req(d) for d in docs])
    expected = -sum(lls) / sum(len(d.encode()) for d in docs) / math.log(2)
    assert math.isclose(bits_per_byte, expected, rel_tol=1e-4), (bits_per_byte, expected)
