"""A Ray Train worker killed with SIGKILL after the first checkpoint: FailureConfig restarts the group.

The victim (rank 1) writes its pid to a marker file at step 6 (checkpoints at 4 and 8) and waits;
this test kills it from outside. The run must end at exactly the requested step, record the
restart, log every step once (metrics.jsonl and one MLflow run without duplicate steps), match the
in-process run step for step (resume is exact: weights, optimizer, data position, RNG), and export
a model that `load_run` reads without DeepSpeed. (Resuming past damaged checkpoints: a real distributed
run in `test_distributed_resume.py`, every kind of damage in `test_checkpoint_manifest.py`.)
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from cola_platform.training.distributed import DistributedOptions, train_distributed
from cola_platform.training.export import load_run
from cola_platform.training.local import train_in_process
from cola_platform.training.run_dir import read_metrics
from cola_platform.training.setup import config_for_data
from cola_platform.faults.fault_plan import FaultPlan

pytestmark = [pytest.mark.ray, pytest.mark.slow]
STEPS, CKPT_EVERY, KILL_AT = 10, 4, 6


def kill_when_marked(marker: Path, timeout: float = 300) -> threading.Thread:
    """Background thread: wait for the victim's pid in `marker`, then SIGKILL it."""

    def run() -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if marker.exists() and marker.read_text().strip():
                os.kill(int(marker.read_text()), signal.SIGKILL)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def overrides(**extra: object) -> dict[str, object]:
    return {
        "train.steps": STEPS,
        "train.ckpt_every": CKPT_EVERY,
        "train.log_every": 1,
        "train.eval_every": 0,
        "train.eval_batches": 1,
        "train.threads": 1,
        "data.shuffle": "false",
        "optim.warmup_steps": 2,
        **extra,
    }


def test_sigkilled_worker_restarts_from_checkpoint_and_finishes(
    ray_cluster, deepspeed_warm, train_data, mlflow_server, tmp_path
):
    from mlflow.tracking import MlflowClient

    name = f"ft-{tmp_path.name}"
    cfg, manifest = config_for_data(
        "ar",
        "tiny",
        train_data.path,
        overrides(
            **{
                "train.workers": 2,
                "train.zero_stage": 2,
                "train.micro_batch_size": 4,
                "run.name": name,
                "train.keep_checkpoints": 3,
                "run.tracking_uri": mlflow_server,
                "run.experiment": "fault-tolerance",
            }
        ),
    )
    marker = tmp_path / "victim.pid"
    killer = kill_when_marked(marker)
    out = tmp_path / "dist"
    result = train_distributed(
        cfg,
        out,
        manifest,
        DistributedOptions(
            ingest="strided", max_failures=2, fault=FaultPlan(step=KILL_AT, rank=1, marker=str(marker), action="hang")
        ),
    )
    killer.join(timeout=1)

    assert marker.exists(), "the fault never fired"
    assert result["steps"] == STEPS and result["restarts"] == 1 and result["restart_steps"] == [CKPT_EVERY]
    assert result["resumed_from_step"] == 0 and result["world_size"] == 2 and result["zero_stage"] == 2
    assert result["global_batch_size"] == 8 and result["export_step"] == STEPS
    train_steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert train_steps == list(range(1, STEPS + 1))

    # the same global batches in one process: identical losses (exact resume) and weights
    ref_cfg, _ = config_for_data("ar", "tiny", train_data.path, overrides(**{"train.micro_batch_size": 8}))
    train_in_process(ref_cfg, tmp_path / "ref", manifest)
    ref_losses = [r["loss"] for r in read_metrics(tmp_path / "ref" / "metrics.jsonl") if "loss" in r]
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert losses == pytest.approx(ref_losses, rel=1e-5, abs=1e-6)
    dist_model, ref_model = load_run(out).model, load_run(tmp_path / "ref").model
    for (key, a), b in zip(dist_model.state_dict().items(), ref_model.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), key

    client = MlflowClient(mlflow_server)
    runs = client.search_runs(
        [client.get_experiment_by_name("fault-tolerance").experiment_id],
        filter_string=f"tags.`cola.run_name` = '{name}'",
    )
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run_id = runs[0].info.run_id
    assert result["mlflow_run_id"] == run_id
    steps = [m.step for m in client.get_metric_history(run_id, "loss")]
    assert sorted(steps) == list(range(1, STEPS + 1)), "duplicate or missing steps in MLflow"
    artifacts = {f.path for f in client.list_artifacts(run_id)} | {
        f.path for f in client.list_artifacts(run_id, "model")
    }
    assert {"result.json", "model/model.safetensors"} <= artifacts


def test_unreadable_shard_on_ray_train_is_reported_once_without_restarts(
    ray_cluster, deepspeed_warm, train_data, tmp_path
):
    """A shard whose bytes no longer match the manifest is a deterministic error: the rank that reads it
    and its peer stop together at that micro-batch (no collective left waiting, no Ray Train restart),
    and the driver raises the checksum error itself, not "shard empty" or a retry traceback."""
    import shutil

    from cola_platform.data.manifest import read_manifest
    from cola_platform.errors import UserError

    data = tmp_path / "data"
    shutil.copytree(train_data.path, data)
    manifest = read_manifest(str(data))
    shard = data / manifest.split_shards("train")[-1].path  # read late in the epoch: mid-training
    payload = bytearray(shard.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    shard.write_bytes(bytes(payload))
    steps = manifest.split_rows("train") // (2 * 4) + 2  # more than one epoch of both ranks
    cfg, manifest = config_for_data(
        "ar",
        "tiny",
        str(data),
        overrides(
            **{
                "train.steps": steps,
                "train.ckpt_every": 0,
                "train.workers": 2,
                "train.zero_stage": 2,
                "train.micro_batch_size": 4,
                "run.name": f"bad-shard-{tmp_path.name}",
            }
        ),
    )
    with pytest.raises(UserError) as caught:
        train_distributed(cfg, tmp_path / "run", manifest, DistributedOptions(max_failures=2))
    message = str(caught.value)
    assert "does not match its manifest checksum" in message and shard.name in message
    assert len(message.splitlines()) == 1 and "re-run the same command" not in message
    assert not (tmp_path / "run" / "result.json").exists()
