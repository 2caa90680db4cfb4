"""2 Ray Train workers x DeepSpeed ZeRO 1/2/3 x every family (and Muon at ZeRO-0) vs the single-process loop.

All ten cases (nine family x stage, and AR with Muon + AdamW at ZeRO-0) run inside one TorchTrainer (one worker
group: start-up once) with
the production pieces: `build_rank` (model, family prepare, per-rank RNG, DeepSpeed engine), the
strided `RayBatchStream` over the Ray Data shard, `mean_over_ranks` and `run_loop`.

The reference is the in-process loop on the same global batch (rows in manifest order, as
`ArrayBatchStream(shuffle=False)` gives them): its engine runs the W ranks' halves of each
micro-batch one after the other, each under that rank's RNG stream (rank 0 continues the run's
stream, rank r re-seeds from `rank_seed(seed, r)`, exactly as the workers do), so LLaDA's masks and
Cola's noise match too (`virtual_ranks.reference_run`). Losses (global means) and the final eval loss must agree
to fp tolerance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from cola_core.config import Config
from cola_core.train.loop import LoopHooks, run_loop
from cola_platform.data.array_stream import fixed_batches
from cola_platform.data.shards import read_split
from cola_platform.training.setup import config_for_data
from virtual_ranks import reference_run

pytestmark = [pytest.mark.ray, pytest.mark.slow]

WORLD, MICRO, ACCUM, STEPS = 2, 2, 2, 3
FAMILIES = {
    "ar": {},
    "llada": {},
    "cola": {"train.stage": 2, "train.latent_evolution": "scratch", "train.vae_lr_ratio": 0.5},
}
STAGE3_PARTITION_ALL = {"zero_optimization": {"stage3_param_persistence_threshold": 0}}


def case_config(data: str, family: str, zero: int, optimizer: str = "adamw") -> Config:
    overrides = {
        "optim.name": optimizer,
        "train.steps": STEPS,
        "train.micro_batch_size": MICRO,
        "train.grad_accum": ACCUM,
        "train.workers": WORLD,
        "train.zero_stage": zero,
        "train.log_every": 1,
        "train.eval_every": 0,
        "train.eval_batches": 1,
        "train.ckpt_every": 0,
        "train.threads": 1,
        "data.shuffle": "false",
        "optim.warmup_steps": 1,
        **FAMILIES[family],
    }
    return config_for_data(family, "tiny", data, overrides)[0]


def matrix_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: run every case with the production building blocks, rank 0 writes the losses."""
    import ray.train

    from cola_platform.data.ray_ingest import IngestPlan, RayBatchStream
    from cola_platform.training.deepspeed_engine import setup_accelerator
    from cola_platform.training.worker import build_rank, mean_over_ranks

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(1)
    manifest, results = config["manifest"], {}
    val = read_split(config["data"], manifest, "validation")
    for key, cfg_dict in config["cases"].items():
        cfg = Config.from_dict(cfg_dict)
        setup_accelerator(cfg)
        overrides = STAGE3_PARTITION_ALL if cfg.train.zero_stage == 3 else {}
        trainable, engine = build_rank(cfg, manifest, rank, fresh=True, deepspeed_overrides=overrides)
        plan = IngestPlan(
            rows=manifest.split_rows("train"), micro_batch_size=MICRO, world_size=world, rank=rank, mode="strided"
        )
        stream = RayBatchStream(ray.train.get_dataset_shard("train"), plan)
        records: list[dict] = []
        hooks = LoopHooks(on_record=[records.append], reduce_metrics=mean_over_ranks(world, engine.ds.device))
        loop = run_loop(
            cfg, trainable.spec, engine, stream, lambda: fixed_batches(val, MICRO, 1), hooks, world_size=world
        )
        results[key] = {
            "losses": [r["loss"] for r in records if "loss" in r],
            "eval": loop.eval["eval_loss"],
            "groups": sorted(g.get("name", "") for g in engine.optimizer.param_groups),
        }
    if rank == 0:
        Path(config["out"]).write_text(json.dumps(results))


def test_zero_stages_match_single_process_for_every_family(ray_cluster, deepspeed_warm, train_data, tmp_path):
    import ray.cloudpickle
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from cola_platform.data.ray_ingest import train_datasets

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cases = {
        f"{family}/zero{zero}": case_config(train_data.path, family, zero).to_dict()
        for family in FAMILIES
        for zero in (1, 2, 3)
    }
    cases["ar/zero0/muon"] = case_config(train_data.path, "ar", 0, "muon").to_dict()  # whole matrices: ZeRO-0
    datasets, data_config = train_datasets(train_data.path, train_data.manifest, "strided", 0, False)
    out = tmp_path / "losses.json"
    TorchTrainer(
        matrix_worker,
        train_loop_config={"cases": cases, "manifest": train_data.manifest, "data": train_data.path, "out": str(out)},
        scaling_config=ScalingConfig(num_workers=WORLD, resources_per_worker={"CPU": 0.99}),
        torch_config=TorchConfig(backend="gloo"),
        datasets=datasets,
        dataset_config=data_config,
        run_config=RunConfig(name="zero-matrix", storage_path=str(tmp_path / "ray")),
    ).fit()
    got = json.loads(out.read_text())
    refs = {
        family: reference_run(case_config(train_data.path, family, 1), train_data.manifest, train_data.path, WORLD)
        for family in FAMILIES
    }
    refs["muon"] = reference_run(
        case_config(train_data.path, "ar", 0, "muon"), train_data.manifest, train_data.path, WORLD
    )
    for key, result in got.items():
        ref = refs["muon" if key.endswith("muon") else key.split("/")[0]]
        assert len(result["losses"]) == STEPS, key
        assert result["losses"] == pytest.approx(ref["losses"], rel=1e-5, abs=1e-6), key
        assert result["eval"] == pytest.approx(ref["eval"], rel=1e-5, abs=1e-6), key
    assert set(got["cola/zero3"]["groups"]) == {"dit", "vae"}  # both named lr groups survive ZeRO
