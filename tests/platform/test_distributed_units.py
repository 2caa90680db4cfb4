"""Pieces of the distributed runner on their own: DeepSpeed config, fp32 export, storage layout,
and the Ray Data batch stream (real Ray Data iterators on the session's local cluster)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_model
from torch import nn

from cola_core.config import Config
from cola_platform.data.ray_ingest import IngestPlan, RayBatchStream, tokens_to_tensor
from cola_platform.errors import UserError
from cola_platform.training.deepspeed_engine import ds_config
from cola_platform.training.distributed import Storage, resolve_storage
from cola_platform.training.export import save_fp32
from cola_platform.training.run_dir import RunDir
from cola_platform.training.worker import checkpoint_dir_name, checkpoint_order, stage_prefix


def test_ds_config_follows_the_train_config():
    cfg = Config()
    cfg.train.micro_batch_size, cfg.train.grad_accum, cfg.train.zero_stage, cfg.optim.grad_clip = 4, 3, 2, 0.5
    c = ds_config(cfg, {"zero_optimization": {"overlap_comm": True}})
    assert c["train_micro_batch_size_per_gpu"] == 4 and c["gradient_accumulation_steps"] == 3
    assert c["zero_optimization"] == {"stage": 2, "overlap_comm": True} and c["gradient_clipping"] == 0.5
    assert c["zero_allow_untested_optimizer"] and not c["bf16"]["enabled"]
    cfg.train.zero_stage, cfg.train.precision = 0, "bf16"
    assert ds_config(cfg)["gradient_clipping"] == 0.0 and ds_config(cfg)["bf16"]["enabled"]  # stage 0: engine clips


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        self.norm = nn.LayerNorm(4)


def test_deepspeed_is_imported_without_mlflow_which_stays_importable_and_without_the_shm_op_build():
    code = (
        "import sys; from cola_platform.training.deepspeed_engine import import_deepspeed; ds = import_deepspeed(); "
        "assert 'mlflow' not in sys.modules and ds.__name__ == 'deepspeed'; "
        "from deepspeed.comm.torch import build_shm_op; assert build_shm_op() is None; "
        "import mlflow; print(mlflow.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "DS_ACCELERATOR": "cpu"}
    )
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip().endswith("mlflow")


def test_save_fp32_handles_tied_weights_and_flat_buffer_views(tmp_path):
    model = Tied()
    flat = torch.zeros(sum(p.numel() for p in model.parameters()))  # DeepSpeed-style: params view one buffer
    offset = 0
    for p in model.parameters():
        flat[offset : offset + p.numel()] = p.data.flatten()
        p.data = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    save_fp32(model, tmp_path / "m.safetensors")
    fresh = Tied()
    load_model(fresh, str(tmp_path / "m.safetensors"))
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


def test_every_model_supports_module_apply():
    """DeepSpeed walks models with `model.apply(fn)`: no submodule may shadow it."""
    from cola_core.config import Config
    from cola_core.registry import family_names, get_family

    for family in family_names():
        cfg = Config.for_family(family)
        cfg.train.stage = 2
        seen: list = []
        get_family(family).build_model(cfg).apply(seen.append)
        assert len(seen) > 3


def test_storage_resolution_and_checkpoint_listing(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run")
    monkeypatch.delenv("COLA_STORAGE", raising=False)
    assert resolve_storage(Config(), run).uri == str(run.root / "ray")
    monkeypatch.setenv("COLA_STORAGE", "s3://bucket/prefix")
    assert resolve_storage(Config(), run).uri == "s3://bucket/prefix"
    for step in (12, 3, 8):
        (tmp_path / "ray" / "name" / f"step_{step:08d}").mkdir(parents=True)
    (tmp_path / "ray" / "name" / "checkpoint_manager_snapshot.json").write_text("{}")
    assert [s for s, _ in Storage(str(tmp_path / "ray")).checkpoints("name")] == [3, 8, 12]
    assert Storage(str(tmp_path / "ray")).checkpoints("missing") == []
    for prefix, step in (("stage1_", 5), ("stage2_", 4), ("stage2_", 2)):
        (tmp_path / "ray" / "two" / checkpoint_dir_name(step, prefix)).mkdir(parents=True)
    two = Storage(str(tmp_path / "ray"))
    assert [s for s, _ in two.checkpoints("two", "stage2_")] == [2, 4]
    assert [u.rsplit("/", 1)[-1] for _, u in two.checkpoints("two", "stage1_")] == ["stage1_step_00000005"]
    assert two.checkpoints("two") == []


def test_checkpoint_retention_keeps_every_earlier_stage_end():
    """Ray Train keeps the highest `checkpoint_order`: with keep=1 and two stages (num_to_keep 2), the
    kept pair is always Stage 1's last checkpoint plus the newest one."""
    reports = [(0, 3, False), (0, 6, True), (1, 2, False), (1, 4, False), (1, 5, True)]
    kept = []
    for stage, step, final in reports:
        kept = sorted(kept + [(checkpoint_order(stage, 2, step, final), stage, step)])[-2:]
        assert (stage, step) in [(s, n) for _, s, n in kept], "the newest checkpoint must be kept"
        if stage == 1:
            assert (0, 6) in [(s, n) for _, s, n in kept], "Stage 1's end was dropped"
    assert sorted((s, n) for _, s, n in kept) == [(0, 6), (1, 5)]
    assert [stage_prefix(k, 1) for k in range(1)] == [""] and stage_prefix(1, 2) == "stage2_"
    assert checkpoint_order(0, 1, 7, True) == 7  # one stage: plain "latest wins"


def test_ingest_plan_epoch_lengths_are_equal_on_every_rank():
    assert IngestPlan(rows=103, micro_batch_size=4, world_size=2, rank=0, mode="split").batches_per_epoch == 12
    assert IngestPlan(rows=103, micro_batch_size=4, world_size=2, rank=1, mode="strided").batches_per_epoch == 12
    with pytest.raises(UserError, match="fewer than one micro-batch"):
        IngestPlan(rows=7, micro_batch_size=4, world_size=2, rank=0).check()
    assert tokens_to_tensor(np.array([np.arange(3), np.arange(3)], dtype=object)).shape == (2, 3)


def rows_dataset(n: int, seq_len: int = 3):
    import ray.data

    ds = ray.data.from_items([{"tokens": np.full(seq_len, i, dtype=np.int32)} for i in range(n)])
    ds.context.execution_options.preserve_order = True  # as train_datasets sets it for training
    return ds


@pytest.mark.ray
def test_strided_stream_is_the_single_process_order_and_resumes(ray_cluster):
    ds = rows_dataset(20)
    plan = IngestPlan(rows=20, micro_batch_size=2, world_size=2, rank=1, mode="strided")
    stream = RayBatchStream(ds.iterator(), plan)
    stream.prime()
    firsts = [int(stream.next_batch()[0, 0]) for _ in range(7)]  # 5 batches per epoch, then epoch 1
    assert firsts == [2, 6, 10, 14, 18, 2, 6] and stream.state() == {
        "epoch": 1,
        "consumed": 2,
        "mode": "strided",
        "world_size": 2,
        "micro_batch_size": 2,
    }
    resumed = RayBatchStream(ds.iterator(), plan)
    resumed.load_state(stream.state())
    assert int(resumed.next_batch()[0, 0]) == int(stream.next_batch()[0, 0]) == 10


@pytest.mark.ray
def test_short_shard_repeats_its_last_batch_instead_of_hanging(ray_cluster, caplog):
    plan = IngestPlan(rows=40, micro_batch_size=2, world_size=2, rank=0, mode="split")  # expects 10 per epoch
    stream = RayBatchStream(rows_dataset(12).iterator(), plan)  # ...but this shard holds only 6
    with caplog.at_level(logging.WARNING):
        got = [int(stream.next_batch()[0, 0]) for _ in range(12)]
    assert got == [0, 2, 4, 6, 8, 10, 10, 10, 10, 10, 0, 2]  # padded to the agreed epoch length, then epoch 1
    assert sum("ended early" in r.getMessage() for r in caplog.records) == 1


def test_stale_torch_extension_build_locks_are_removed_fresh_ones_kept(tmp_path, monkeypatch):
    from cola_platform.training.deepspeed_engine import STALE_BUILD_LOCK_S, clear_stale_build_locks

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    stale, fresh = tmp_path / "py311_cpu" / "op_a" / "lock", tmp_path / "py311_cpu" / "op_b" / "lock"
    for lock in (stale, fresh):
        lock.parent.mkdir(parents=True)
        lock.write_text("")
    old = os.path.getmtime(stale) - STALE_BUILD_LOCK_S - 60
    os.utime(stale, (old, old))
    assert clear_stale_build_locks() == [stale]
    assert not stale.exists() and fresh.exists()
