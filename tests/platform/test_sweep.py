"""Sweeps on a real local Ray cluster with a real MLflow server: TPE + ASHA early stopping, nested
MLflow runs under one parent, and resuming a study without re-running finished trials."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweeps.study import load_sweep_study

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

STUDY = """
[study]
name = "{name}"
family = "cola"
preset = "tiny"
data = "{data}"
steps = 24
stage1_steps = 20
search = "{search}"
num_samples = {samples}
scheduler = "{scheduler}"
time_attr = "tokens"
grace_fraction = 0.25
reduction_factor = 2
objective = ["fm_loss_uniform"]
mode = ["min"]
workers_per_trial = 0
max_concurrent = 1
seed = 3

[overrides]
"train.stage" = 2
"train.eval_every" = 6
"train.eval_batches" = 1
"train.micro_batch_size" = 4
"train.ckpt_every" = 0

[space]
"objective.noise_loc" = {space}
"""


@pytest.fixture(scope="module")
def sw_data(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("sweep") / "data"
    subprocess.run([sys.executable, "-m", "jobs.prepare_data", "--source", "storyworld", "--num-docs", "600", "--seq-len", "32",
                    "--vocab-size", "400", "--out", str(out), "--engine", "local"], check=True, cwd=REPO, capture_output=True)
    return str(out)


def write_study(tmp_path, **kw) -> Path:
    path = tmp_path / f"{kw['name']}.toml"
    path.write_text(STUDY.format(**kw))
    return path


def test_tpe_asha_stops_trials_early_and_nests_mlflow_runs(ray_cluster, mlflow_server, sw_data, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from cola_platform.tune.runner import run_sweep

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    study = load_sweep_study(write_study(tmp_path, name="asha4", data=sw_data, search="tpe", samples=4,
                                         scheduler="asha", space="{ uniform = [-3.0, 4.0] }"))
    summary = run_sweep(study, tmp_path / "out")
    assert summary["n_trials"] == 4 and summary["n_ok"] == 4
    assert summary["compute"]["trials_stopped_early"] >= 1
    assert summary["compute"]["flops_spent"] < summary["compute"]["flops_all_trials_full"]
    assert summary["best"]["fm_loss_uniform"] == min(r["fm_loss_uniform"] for r in summary["trials"])
    assert (tmp_path / "out" / "plots" / "objective_vs_params.png").is_file()

    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("asha4")
    parents = client.search_runs([exp.experiment_id], "tags.`cola.study_parent` = 'true'")
    assert len(parents) == 1
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'")
    trial_runs = [r for r in children if r.data.tags.get("stage1") != "true"]
    assert len(trial_runs) == 4 and all(r.data.tags.get("study") == "asha4" for r in trial_runs)
    assert "best_value" in parents[0].data.metrics or client.get_run(parents[0].info.run_id).data.metrics


def test_resumed_study_does_not_rerun_finished_trials(ray_cluster, sw_data, tmp_path):
    path = write_study(tmp_path, name="resume3", data=sw_data, search="grid", samples=1, scheduler="none",
                       space="{ grid = [0.0, 1.5, 3.0] }")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "jobs.sweep", "--study", str(path), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and not list(out.glob("trials/*/trial.json")):
        time.sleep(1)
    proc.kill()
    proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("trials/*/trial.json")}
    assert finished, "no trial finished before the interruption"
    results = {name: (out / "trials" / name / "run" / "result.json").stat().st_mtime_ns for name in finished}

    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads((out / "result.json").read_text())
    assert summary["n_ok"] == 3
    for name, mtime in finished.items():
        assert (out / "trials" / name / "trial.json").stat().st_mtime_ns == mtime, f"{name} was re-run"
        assert (out / "trials" / name / "run" / "result.json").stat().st_mtime_ns == results[name]
