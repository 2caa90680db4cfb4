"""Elastic resume decisions: run identity and global batch, ZeRO moves, the data position in sequences.

The end-to-end check (2 -> 1 -> 2 Ray Train workers through DeepSpeed's universal checkpoint, losses
equal to an uninterrupted run) is `tests/platform/test_distributed_resume.py`.
"""

from __future__ import annotations

import pytest
import torch

from cola_core.config import Config, apply_overrides
from cola_platform.data.ray_ingest import IngestPlan, RayBatchStream
from cola_platform.errors import UserError
from cola_platform.training.elastic import (
    Layout,
    check_zero_change,
    global_batch,
    keep_run_identity,
    needs_universal,
    reseed_resume_state,
)


def layout_config(workers: int, micro: int = 4, accum: int = 1, name: str = "") -> Config:
    overrides = {"train.workers": workers, "train.micro_batch_size": micro, "train.grad_accum": accum}
    return apply_overrides(Config(), {**overrides, "run.name": name})


def test_a_new_worker_count_keeps_the_run_name_and_its_global_batch():
    saved = layout_config(workers=2, micro=4, accum=1, name="the-run")
    cfg = layout_config(workers=1, micro=4, accum=1, name="train-ar-tiny-otherhash")
    keep_run_identity(cfg, saved)
    assert cfg.run.name == "the-run" and cfg.train.grad_accum == 2 and global_batch(cfg) == global_batch(saved) == 8
    grown = layout_config(workers=4, micro=2, accum=1)
    keep_run_identity(grown, layout_config(workers=2, micro=2, accum=4, name="the-run"))
    assert grown.train.grad_accum == 2 and global_batch(grown) == 16


def test_a_worker_count_that_cannot_divide_the_global_batch_is_refused_with_the_counts_that_can():
    with pytest.raises(UserError, match=r"3 workers x micro-batch 4 cannot divide it: use --workers in \[1, 2\]"):
        keep_run_identity(layout_config(workers=3), layout_config(workers=2, name="the-run"))


def test_the_same_worker_count_leaves_the_config_alone():
    cfg = layout_config(workers=2, micro=4, accum=3, name="the-run")
    keep_run_identity(cfg, layout_config(workers=2, micro=4, accum=1, name="the-run"))
    assert cfg.train.grad_accum == 3  # a deliberate change of accumulation is the user's


@pytest.mark.parametrize(
    ("saved", "now", "advice"),
    [
        ((2, 2), (1, 1), ""),
        ((2, 1), (4, 2), ""),
        ((2, 0), (1, 0), ""),
        ((2, 3), (2, 3), ""),
        ((2, 0), (2, 1), "--zero 0"),
        ((2, 2), (2, 0), "--zero 2"),
        ((2, 1), (2, 3), "--zero 1"),
        ((2, 3), (2, 2), "--workers 2 --zero 3"),
        ((2, 3), (1, 3), "--workers 2 --zero 3"),
    ],
)
def test_zero_stage_moves(saved, now, advice):
    if advice:
        with pytest.raises(UserError, match=f"re-run with {advice}$"):
            check_zero_change(Layout(*saved), Layout(*now))
    else:
        check_zero_change(Layout(*saved), Layout(*now))


def test_only_a_sharded_checkpoint_of_another_layout_is_converted():
    assert not needs_universal(None, Layout(2, 2))
    assert not needs_universal(Layout(2, 2), Layout(2, 2))
    assert not needs_universal(Layout(2, 0), Layout(1, 0))  # ZeRO-0 keeps the whole optimizer state in one file
    assert needs_universal(Layout(2, 2), Layout(1, 2)) and needs_universal(Layout(2, 1), Layout(2, 2))
    assert Layout.of_checkpoint({"step": 4}) is None
    assert Layout.of_checkpoint({"world_size": 2, "zero_stage": 1}) == Layout(2, 1)


def stream(world: int, micro: int, mode: str = "strided") -> RayBatchStream:
    plan = IngestPlan(rows=1000, micro_batch_size=micro, world_size=world, rank=0, mode=mode)
    return RayBatchStream(shard=None, plan=plan)


def test_the_data_position_is_kept_in_sequences_across_layouts():
    saved = stream(world=2, micro=4)
    saved.epoch, saved.consumed = 1, 6  # 6 batches x 4 sequences x 2 workers = 48 sequences of epoch 1
    state = saved.state()
    assert stream(world=2, micro=4).resume_position(state) == 6
    assert stream(world=1, micro=4).resume_position(state) == 12
    assert stream(world=4, micro=2).resume_position(state) == 6
    legacy = {"epoch": 1, "consumed": 6, "mode": "strided"}  # written before positions carried their layout
    assert stream(world=1, micro=4).resume_position(legacy) == 6


def test_a_layout_change_gives_every_rank_a_new_deterministic_random_stream():
    def drawn(rank: int) -> torch.Tensor:
        state = {"loop": {"step": 4}, "rng": None}
        reseed_resume_state(state, seed=0, rank=rank, stride=1_000_003)
        torch.set_rng_state(state["rng"]["torch"])
        return torch.rand(4)

    assert torch.equal(drawn(0), drawn(0)) and not torch.equal(drawn(0), drawn(1))
