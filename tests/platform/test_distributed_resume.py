"""Stop a distributed run after a checkpoint, re-run it: it resumes (not restarts), at any worker count.

Checkpoints go to S3 (moto on loopback) through `COLA_STORAGE`. The first run (2 workers, ZeRO-2)
fails on purpose at step 5 with no restarts allowed (checkpoints at 2 and 4), and then 4 KB in the
middle of step 4's model states are overwritten on S3. The second run asks for 1 worker at ZeRO-1:
it skips the damaged checkpoint with one warning (set aside under `skipped/`), resumes from step 2
through DeepSpeed's universal checkpoint with twice the accumulation (same global batch), and fails
again at step 5; the third runs 2 workers at ZeRO-2 from its step-4 checkpoint to the end. With
`strided` ingest (the manifest order at every world size) the AR losses of all seven steps equal an
uninterrupted in-process run on the same global batches, so no sequence was seen twice or skipped
and the optimizer state crossed both changes. Each step is logged once in metrics.jsonl and the
three attempts share one MLflow run.
"""

from __future__ import annotations

import json
import logging

import pytest

from cola_platform import storage
from cola_platform.errors import UserError
from cola_platform.training.distributed import DistributedOptions, train_distributed
from cola_platform.training.export import load_run
from cola_platform.training.local import train_in_process
from cola_platform.training.run_dir import read_metrics
from cola_platform.training.setup import config_for_data
from cola_platform.faults.fault_plan import FaultPlan

pytestmark = [pytest.mark.ray, pytest.mark.slow]
STEPS, CKPT_EVERY, FAIL_AT, MICRO = 7, 2, 5, 4
MODEL_STATES = "ckpt/mp_rank_00_model_states.pt"


def test_rerun_with_same_name_resumes_from_s3_checkpoint(
    ray_cluster, deepspeed_warm, train_data, mlflow_server, s3_bucket, tmp_path, monkeypatch, caplog
):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("COLA_STORAGE", f"{s3_bucket}/ray")
    name = f"resume-{tmp_path.name}"
    out = tmp_path / "run"

    def config(workers: int, zero: int, **extra: object):
        overrides = {
            "train.steps": STEPS,
            "train.ckpt_every": CKPT_EVERY,
            "train.log_every": 1,
            "train.eval_every": 0,
            "train.eval_batches": 1,
            "train.threads": 1,
            "train.micro_batch_size": MICRO,
            "train.workers": workers,
            "train.zero_stage": zero,
            "data.shuffle": "false",
            "run.name": name,
            "run.tracking_uri": mlflow_server,
            "run.experiment": "resume",
            **extra,
        }
        return config_for_data("ar", "tiny", train_data.path, overrides)

    def fails_at_step(marker: str) -> DistributedOptions:
        fault = FaultPlan(step=FAIL_AT, rank=0, marker=str(tmp_path / marker), action="raise")
        return DistributedOptions(max_failures=0, fault=fault, ingest="strided")

    cfg, manifest = config(workers=2, zero=2)
    with pytest.raises(UserError, match="re-run the same command"):
        train_distributed(cfg, out, manifest, fails_at_step("first.pid"))
    first_run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(mlflow_server)
    assert client.get_run(first_run_id).info.status == "FAILED"
    fs, path = storage.filesystem(f"{s3_bucket}/ray/{name}")
    assert {"step_00000002", "step_00000004"} <= {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path)}
    damaged = f"{path}/step_00000004/{MODEL_STATES}"
    payload = bytearray(fs.cat_file(damaged))
    middle = len(payload) // 2
    payload[middle : middle + 4096] = bytes(b ^ 0xFF for b in payload[middle : middle + 4096])
    fs.pipe_file(damaged, bytes(payload))

    cfg, manifest = config(workers=1, zero=1, **{"run.name": ""})  # the run dir's config.json names the run
    with caplog.at_level(logging.INFO, logger="cola_platform.training"):
        with pytest.raises(UserError, match="re-run the same command"):
            train_distributed(cfg, out, manifest, fails_at_step("second.pid"))
    assert cfg.run.name == name and cfg.train.grad_accum == 2  # same run, same 8 sequences per step

    cfg, manifest = config(workers=2, zero=2)
    result = train_distributed(cfg, out, manifest, DistributedOptions(ingest="strided"))

    skipped = [r.getMessage() for r in caplog.records if "skipped checkpoint" in r.getMessage()]
    assert len(skipped) == 1 and f"step_00000004: {MODEL_STATES} does not match its checksum" in skipped[0]
    assert skipped[0].endswith("resuming from step_00000002")
    assert fs.exists(f"{path}/skipped/step_00000004/{MODEL_STATES}")
    assert result["resumed_from_step"] == 2 * CKPT_EVERY and result["restarts"] == 0
    assert result["steps"] == STEPS and result["storage"].startswith("s3://")
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records if "loss" in r] == list(range(1, STEPS + 1))
    reference, _ = config(workers=0, zero=0, **{"train.grad_accum": 2, "run.name": "reference", "run.tracking_uri": ""})
    train_in_process(reference, tmp_path / "reference", manifest)
    uninterrupted = [r["loss"] for r in read_metrics(tmp_path / "reference" / "metrics.jsonl") if "loss" in r]
    assert [r["loss"] for r in records if "loss" in r] == pytest.approx(uninterrupted, rel=1e-5, abs=1e-6)
    assert [r["step"] for r in records if "eval_loss" in r] == [STEPS]
    assert result["mlflow_run_id"] == first_run_id
    runs = client.search_runs(
        [client.get_experiment_by_name("resume").experiment_id], filter_string=f"tags.`cola.run_name` = '{name}'"
    )
    assert [r.info.run_id for r in runs] == [first_run_id] and runs[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(first_run_id, "loss")]
    assert sorted(steps) == list(range(1, STEPS + 1)), "duplicate or missing steps in MLflow"
    loaded = load_run(out)
    assert loaded.cfg.run.family == "ar" and sum(p.numel() for p in loaded.model.parameters()) > 0
