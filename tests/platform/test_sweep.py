"""Sweeps on a real local Ray cluster with a real MLflow server: TPE + ASHA early stopping over trials
that are Ray Train runs, nested MLflow runs under one parent, and resuming a study (in-process Cola
trials sharing a Stage-1 VAE) without re-running finished trials."""

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
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.prepare_data",
            "--source",
            "storyworld",
            "--num-docs",
            "600",
            "--seq-len",
            "32",
            "--vocab-size",
            "400",
            "--out",
            str(out),
            "--engine",
            "local",
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    return str(out)


def write_study(tmp_path, **kw) -> Path:
    path = tmp_path / f"{kw['name']}.toml"
    path.write_text(STUDY.format(**kw))
    return path


DISTRIBUTED_STUDY = """
[study]
name = "asha_ray_train"
family = "ar"
preset = "tiny"
data = "{data}"
steps = 16
search = "tpe"
num_samples = 3
scheduler = "asha"
time_attr = "flops"
grace_fraction = 0.25
reduction_factor = 2
objective = ["eval_loss"]
mode = ["min"]
workers_per_trial = 1
seed = 3

[overrides]
"train.eval_every" = 4
"train.ckpt_every" = 4
"train.eval_batches" = 1
"train.micro_batch_size" = 4

[space]
"optim.lr" = {{ loguniform = [1e-4, 3e-2] }}
"""


def test_tpe_asha_over_ray_train_trials_stops_some_and_finishes_the_rest(
    ray_cluster, mlflow_server, sw_data, tmp_path, monkeypatch
):
    """Each trial its own Ray Train run: ASHA stops some early, and a trial that reaches the full budget
    is not ended by Tune at its run's last report but finishes its run directory and trial.json."""
    from mlflow.tracking import MlflowClient

    from cola_platform.tune.runner import run_sweep

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    path = tmp_path / "asha_ray_train.toml"
    path.write_text(DISTRIBUTED_STUDY.format(data=sw_data))
    summary = run_sweep(load_sweep_study(path), tmp_path / "out")
    assert summary["n_trials"] == 3 and summary["n_ok"] == 3
    assert summary["compute"]["trials_stopped_early"] >= 1
    assert summary["compute"]["flops_spent"] < summary["compute"]["flops_all_trials_full"]
    full = [r for r in summary["trials"] if r["tokens"] == 16 * 4 * 32]  # steps x micro-batch x seq_len
    assert summary["best"]["eval_loss"] == min(r["eval_loss"] for r in full)
    assert (tmp_path / "out" / "plots" / "objective_vs_params.png").is_file()
    assert full and len(full) == 3 - summary["compute"]["trials_stopped_early"]
    for r in full:
        trial = tmp_path / "out" / "trials" / r["run"]
        assert json.loads((trial / "trial.json").read_text())["metrics"]["eval_loss"] == r["eval_loss"]
        assert json.loads((trial / "run" / "result.json").read_text())["steps"] == 16
        assert (trial / "run" / "model.safetensors").is_file()

    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("asha_ray_train")
    parents = client.search_runs([exp.experiment_id], "tags.`cola.study_parent` = 'true'")
    assert len(parents) == 1
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'")
    assert len(children) == 3 and all(r.data.tags.get("study") == "asha_ray_train" for r in children)
    assert "best_value" in parents[0].data.metrics or client.get_run(parents[0].info.run_id).data.metrics


def test_resumed_study_does_not_rerun_finished_trials(ray_cluster, sw_data, tmp_path):
    path = write_study(
        tmp_path,
        name="resume3",
        data=sw_data,
        search="grid",
        samples=1,
        scheduler="none",
        space="{ grid = [0.0, 1.5, 3.0] }",
    )
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
