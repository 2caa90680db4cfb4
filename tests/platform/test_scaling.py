"""A tiny scaling study end to end on a local Ray cluster with MLflow: plan, train, evaluate, analyse;
re-submitting trains nothing new; `jobs.report` rebuilds the same numbers from MLflow alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.scaling_plan import load_scaling_study

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

STUDY = """
[study]
name = "tinyscale"
families = ["ar", "cola"]
budgets = [6e10, 1.2e11]
presets = ["tiny"]
data = "{data}"
workers = 0
eval_tasks = ["sw-cloze", "sw-quality"]
eval_items = 4
tolerance = 0.05

[prepare]
source = "storyworld"
num_docs = 600
seq_len = 32
vocab_size = 400
engine = "local"

[overrides]
"train.micro_batch_size" = 4
"train.eval_every" = 0
"train.ckpt_every" = 0
"train.eval_batches" = 1

[overrides.cola]
"sampler.steps" = 2
"""


def test_tiny_study_runs_resubmits_idle_and_reports_from_mlflow(ray_cluster, mlflow_server, tmp_path, monkeypatch):
    from cola_platform.scaling.runner import run_scaling

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    path = tmp_path / "tinyscale.toml"
    path.write_text(STUDY.format(data=tmp_path / "data"))
    study = load_scaling_study(path)
    out = tmp_path / "out"
    summary = run_scaling(study, out)
    points = summary["points"]
    assert len(points) == 4 and summary["n_failed"] == 0
    for p in points:
        assert abs(p["flops"] - p["budget"]) / p["budget"] <= 0.05
        assert "sw_cloze_acc" in p and "nll_nats_per_token" in p
    assert (out / "plots" / "scaling_curves.png").is_file() and (out / "report.md").is_file()
    trained = {p: p.stat().st_mtime_ns for p in out.glob("points/*/*/result.json")}
    assert len(trained) == 2 + 2 * 2  # AR: one run per budget; Cola: Stage 1 and Stage 2 per budget

    again = run_scaling(load_scaling_study(path), out)
    assert {p: p.stat().st_mtime_ns for p in out.glob("points/*/*/result.json")} == trained
    assert again["points"] == points

    path.write_text(
        STUDY.format(data=tmp_path / "data").replace("budgets = [6e10, 1.2e11]", "budgets = [6e10, 1.2e11, 1.8e11]")
    )
    extended = run_scaling(load_scaling_study(path), out)
    assert len(extended["points"]) == 6
    after = {p: p.stat().st_mtime_ns for p in out.glob("points/*/*/result.json")}
    assert {p: after[p] for p in trained} == trained, "extending the study retrained old points"

    from cola_platform.bench.study import study_breakdown  # where the study's wall time went

    spent = study_breakdown(out)
    assert spent["points"] == 6 and 0.0 < spent["training_step_share"] < 1.0
    assert all(row["training_steps"] > 0 and row["evaluation"] > 0 for row in spent["per_point"])
    assert spent["study_wall_seconds"] >= max(row["wall"] for row in spent["per_point"])

    report_dir = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.report",
            "--study",
            "tinyscale",
            "--out",
            str(report_dir),
            "--tracking-uri",
            mlflow_server,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rebuilt = json.loads((report_dir / "result.json").read_text())
    original = json.loads((out / "result.json").read_text())
    assert rebuilt["analysis"] == original["analysis"]
    assert rebuilt["table"] == original["table"]
