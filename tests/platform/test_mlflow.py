"""MLflow tracking against a real server on loopback (and an unreachable one), through the in-process runner.

The distributed path uses the same tracker (driver + run recorder); test_fault_tolerance.py and
test_distributed_resume.py check one MLflow run per training run and no duplicate steps there.
"""

from __future__ import annotations

import json
import logging

from cola_platform.cluster.net import free_port
from cola_platform.tracking.mlflow_tracker import MlflowTracker, open_tracker
from cola_platform.tracking.redact import is_secret_name, redact_uri, safe_value, scrub
from cola_platform.training.local import train_in_process
from cola_platform.training.run_dir import read_metrics
from cola_platform.training.setup import config_for_data

FAKE_SECRET = "sk-cola-test-9f8e7d6c5b4a"
PASSWORD = "hunter2-but-longer"


def tiny_config(data: str, **extra: object):
    return config_for_data(
        "ar",
        "tiny",
        data,
        {
            "train.steps": 4,
            "train.log_every": 1,
            "train.eval_every": 2,
            "train.eval_batches": 1,
            "train.ckpt_every": 2,
            "train.threads": 1,
            **extra,
        },
    )


def test_secret_names_and_uris_are_redacted():
    assert all(map(is_secret_name, ["AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_TOKEN", "api_key", "DB_PASSWORD"]))
    assert not any(map(is_secret_name, ["data.tokenizer_hash", "sampler.max_new_tokens", "PWD", "train.grad_clip"]))
    assert redact_uri("http://bob:pw@host:5000/p?token=x") == "http://host:5000/p"
    assert redact_uri("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"
    assert scrub(f"key {FAKE_SECRET} at http://bob:pw@h/", {"MY_API_TOKEN": FAKE_SECRET}) == "key *** at http://h/"
    assert safe_value("run.api_key", "x") is None and safe_value("run.tracking_uri", "http://a:b@h") == "http://h"


def test_unreachable_server_warns_once_and_training_completes(train_data, tmp_path, caplog):
    cfg, manifest = tiny_config(train_data.path, **{"run.tracking_uri": f"http://127.0.0.1:{free_port()}"})
    with caplog.at_level(logging.WARNING):
        result = train_in_process(cfg, tmp_path / "run", manifest)
        again = open_tracker(cfg, tmp_path / "run")  # same process, same server: no second warning
    assert result["steps"] == 4 and not again.enabled
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss" in r] == [1, 2, 3, 4]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "MLflow" in r.getMessage()]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()


def test_params_tags_metrics_artifacts_and_no_secrets(train_data, mlflow_server, tmp_path, monkeypatch, caplog):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("COLA_TEST_API_TOKEN", FAKE_SECRET)
    host = mlflow_server.split("://", 1)[1]
    uri_with_password = f"http://alice:{PASSWORD}@{host}"
    cfg, manifest = tiny_config(
        train_data.path,
        **{
            "run.tracking_uri": uri_with_password,
            "run.name": "tracked",
            "run.study": "unit",
            "run.experiment": "mlflow-tests",
        },
    )
    with caplog.at_level(logging.DEBUG, logger="cola_platform"), caplog.at_level(logging.DEBUG, logger="mlflow"):
        result = train_in_process(cfg, tmp_path / "run", manifest)
    run_id = json.loads((tmp_path / "run" / "mlflow_run.json").read_text())["run_id"]
    run = MlflowClient(mlflow_server).get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked"
    assert run.data.params["train.steps"] == "4" and run.data.params["run.tracking_uri"] == mlflow_server
    assert {run.data.tags[k] for k in ("family", "preset", "study")} == {"ar", "tiny", "unit"}
    assert "git_commit" in run.data.tags
    everything = (
        json.dumps([run.data.params, run.data.tags]) + caplog.text + (tmp_path / "run" / "mlflow_run.json").read_text()
    )
    assert FAKE_SECRET not in everything and PASSWORD not in everything
    client = MlflowClient(mlflow_server)
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(run_id, "eval_loss")] == [2, 4]
    assert {"lr", "tokens", "flops", "tokens_per_second", "grad_norm"} <= set(run.data.metrics)
    assert run.data.metrics["result/steps"] == result["steps"]
    artifacts = {f.path for f in client.list_artifacts(run_id)} | {
        f.path for f in client.list_artifacts(run_id, "model")
    }
    assert {"result.json", "model/model.safetensors", "model/tokenizer.json"} <= artifacts

    # reopening the run directory continues the same MLflow run and skips steps it already holds
    tracker = open_tracker(cfg, tmp_path / "run")
    assert isinstance(tracker, MlflowTracker) and tracker.info.run_id == run_id
    tracker.log_record({"step": 4, "loss": 99.0})
    tracker.log_record({"step": 5, "loss": 1.0})
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2, 3, 4, 5]
    tracker.end("FINISHED")


def test_a_run_trained_again_ends_the_mlflow_run_a_killed_process_left_running(train_data, mlflow_server, tmp_path):
    """What a SIGKILL leaves: the MLflow run RUNNING, with RUN_DIR/mlflow_run.json naming it. Here the killed
    start reached the server as `localhost` and the next start as `127.0.0.1` (the recorded run is only
    reused for the same tracking URI), so the next start opens a new MLflow run; the killed one must
    not stay RUNNING forever: it is ended as KILLED, and the new one ends FINISHED."""
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    overrides = {"run.experiment": "stale-runs", "run.name": "stale"}
    killed_cfg, manifest = tiny_config(
        train_data.path, **overrides, **{"run.tracking_uri": mlflow_server.replace("127.0.0.1", "localhost")}
    )
    killed = open_tracker(killed_cfg, run_dir)  # the killed process got this far and then logged a step
    assert isinstance(killed, MlflowTracker)
    killed.log_record({"step": 1, "loss": 5.0})

    cfg, manifest = tiny_config(train_data.path, **overrides, **{"run.tracking_uri": mlflow_server})
    train_in_process(cfg, run_dir, manifest)

    client = MlflowClient(mlflow_server)
    new_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    assert new_id != killed.info.run_id
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert client.get_run(new_id).info.status == "FINISHED"
    experiment = client.get_experiment_by_name("stale-runs").experiment_id
    assert client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'") == []
    tagged = client.search_runs([experiment], filter_string=f"tags.`cola.run_dir` = '{run_dir.absolute()}'")
    assert sorted(r.info.run_id for r in tagged) == sorted([killed.info.run_id, new_id])


def test_a_failed_metric_log_pauses_and_the_runs_end_logs_the_missed_steps(train_data, mlflow_server, tmp_path):
    """A metric log that fails (here: the server unreachable for one call) must not end tracking for the rest of
    the run: logging pauses, and `finish` logs every (metric, step) of metrics.jsonl the MLflow run lacks."""
    from mlflow.tracking import MlflowClient

    from cola_platform.tracking.mlflow_tracker import mlflow_client

    run_dir = tmp_path / "run"
    cfg, _ = tiny_config(train_data.path, **{"run.tracking_uri": mlflow_server, "run.experiment": "paused"})
    tracker = open_tracker(cfg, run_dir)
    assert isinstance(tracker, MlflowTracker)
    records = [{"step": s, "loss": 5.0 - s, "lr": 0.1} for s in (1, 2, 3)] + [{"step": 3, "eval_loss": 2.5}]
    twice = [{"step": 2, "lr": 0.1}]  # a (metric, step) the file holds twice is logged once
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records + twice))
    tracker.log_record(records[0])
    server = tracker.client
    tracker.client = mlflow_client(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    tracker.log_record(records[1])
    tracker.client = server
    assert tracker.enabled and tracker.paused_until > 0
    tracker.log_record(records[2])  # still paused: not sent
    client = MlflowClient(mlflow_server)
    run_id = tracker.info.run_id
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1]

    tracker.finish({"steps": 3, "final_loss": 2.0}, run_dir)
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [(1, 4.0), (2, 3.0), (3, 2.0)]
    assert [m.step for m in client.get_metric_history(run_id, "lr")] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(run_id, "eval_loss")] == [3]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["result/final_loss"] == 2.0


def test_eval_numbers_go_to_the_runs_mlflow_run_and_overrides_name_theirs(train_data, mlflow_server, tmp_path):
    """`jobs.eval` logs into the run's own MLflow run; numbers measured with `--set` sampler overrides carry a
    prefix naming them, so the run's own-settings numbers are never overwritten by them."""
    from mlflow.tracking import MlflowClient

    from cola_platform.tracking.eval_logging import log_eval_to_mlflow
    from cola_platform.training.export import load_run

    cfg, manifest = tiny_config(train_data.path, **{"run.tracking_uri": mlflow_server, "run.experiment": "evals"})
    train_in_process(cfg, tmp_path / "run", manifest)
    loaded = load_run(tmp_path / "run")
    log_eval_to_mlflow(loaded, {"metrics": {"sw_qa_acc": 0.25}})
    log_eval_to_mlflow(loaded, {"metrics": {"sw_qa_acc": 0.5}}, overrides={"sampler.top_k": 5, "sampler.seed": 3})
    run_id = json.loads((tmp_path / "run" / "mlflow_run.json").read_text())["run_id"]
    metrics = MlflowClient(mlflow_server).get_run(run_id).data.metrics
    assert metrics["sw_qa_acc"] == 0.25 and metrics["sampler.seed:3/sampler.top_k:5/sw_qa_acc"] == 0.5
