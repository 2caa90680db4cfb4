"""A fourth family from outside the package runs through every job.

`tests/families/bigram.py` registers a bigram language model; `COLA_FAMILY_MODULES` names that file,
and nothing else in the repository knows the family. The jobs run as users run them (subprocesses
against the session's Ray cluster, which hands the variable to its workers): a one-point scaling
study (which also prepares its data from its `[prepare]` table, in process), `jobs.train`,
`jobs.eval` (ranked tasks skipped: the family has no token likelihood) and a two-trial sweep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
FAMILY_FILE = REPO / "tests" / "families" / "bigram.py"

SCALING = """
[study]
name = "bigram-scale"
families = ["bigram"]
budgets = [2e7]
presets = ["tiny"]
data = "{data}"
workers = 0
eval_tasks = ["sw-cloze"]
eval_items = 4
tolerance = 0.05

[prepare]
source = "storyworld"
num_docs = 300
seq_len = 32
vocab_size = 320
engine = "local"

[overrides]
"train.micro_batch_size" = 8
"train.eval_every" = 0
"train.ckpt_every" = 0
"train.eval_batches" = 1
"optim.lr" = 0.5
"""

SWEEP = """
[study]
name = "bigram-sweep"
family = "bigram"
preset = "tiny"
data = "{data}"
steps = 20
search = "grid"
num_samples = 1
scheduler = "none"
objective = ["eval_loss"]
mode = ["min"]
workers_per_trial = 0
max_concurrent = 1

[overrides]
"train.micro_batch_size" = 8
"train.eval_every" = 0
"train.ckpt_every" = 0
"train.eval_batches" = 1

[space]
"optim.lr" = {{ grid = [0.05, 0.5] }}
"""


def test_a_family_from_outside_the_package_runs_through_every_job(ray_cluster, tmp_path):
    env = {
        **os.environ,
        "COLA_FAMILY_MODULES": str(FAMILY_FILE),
        "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address,
    }
    env.pop("MLFLOW_TRACKING_URI", None)

    def job(*args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stderr[-3000:]}"

    data = tmp_path / "data"
    scaling = tmp_path / "scaling.toml"
    scaling.write_text(SCALING.format(data=data))
    job("jobs.scaling", "--study", str(scaling), "--out", str(tmp_path / "scaling"))
    summary = json.loads((tmp_path / "scaling" / "result.json").read_text())
    assert summary["n_failed"] == 0 and [p["family"] for p in summary["points"]] == ["bigram"]
    point = summary["points"][0]
    assert abs(point["flops"] - 2e7) / 2e7 <= 0.05 and "sw_cloze_acc" in point

    run = tmp_path / "run"
    job("jobs.train", "--family", "bigram", "--data", str(data), "--steps", "40", "--out", str(run),
        "--set", "optim.lr=0.5", "--set", "train.micro_batch_size=8", "--set", "train.eval_every=0")  # fmt: skip
    result = json.loads((run / "result.json").read_text())
    assert result["family"] == "bigram" and result["steps"] == 40
    assert result["eval"]["eval_loss"] < result["initial_loss"] - 0.5, "the bigram table did not learn"

    job("jobs.eval", "--run", str(run), "--tasks", "sw-cloze,sw-order", "--items", "4", "--out", str(tmp_path / "e"))
    record = json.loads((tmp_path / "e").read_text())
    assert record["family"] == "bigram" and "sw-cloze" in record["tasks"] and "sw-order" in record["skipped_tasks"]
    assert 0 < record["likelihood"]["eval_loss"] < result["initial_loss"]  # no eval_loss hook: the objective's

    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP.format(data=data))
    job("jobs.sweep", "--study", str(sweep), "--out", str(tmp_path / "sweep"))
    trials = json.loads((tmp_path / "sweep" / "result.json").read_text())
    assert trials["n_ok"] == 2
