"""Several runs in one Ray Train run give what separate runs give, and resume.

Merged: `train_stages` runs a Cola Stage-1 run, its Stage 2 and an AR run in one 2-worker ZeRO-2 group
with strided ingest (Stage 2 continues from Stage 1's weights, the AR run starts fresh, as a scaling
study's points do); it is first stopped on purpose in Stage 2 (after Stage 2's checkpoint at step 2, no
restarts allowed), then re-run: it skips Stage 1 (its summary and export survive), resumes Stage 2 from
step 2 and trains the AR run. Separate: each run on its own, in process, on the same global batches and
per-rank RNG streams (`virtual_ranks.reference_run`; Stage 2 from the merged Stage 1's weights, which
equal the separate Stage 1's): every logged loss of every run equals the separate run's.
"""

from __future__ import annotations

import json

import pytest

from cola_platform.errors import UserError
from cola_platform.training.distributed import DistributedOptions, train_distributed, train_stages
from cola_platform.training.export import load_run
from cola_platform.training.run_dir import read_metrics
from cola_platform.training.setup import config_for_data
from cola_platform.faults.fault_plan import FaultPlan
from virtual_ranks import reference_run

pytestmark = [pytest.mark.ray, pytest.mark.slow]
STAGE1_STEPS, STAGE2_STEPS, CKPT_EVERY, FAIL_AT, AR_STEPS = 2, 5, 2, 3, 3


def stage_configs(data: str, tag: str):
    common = {
        "train.log_every": 1,
        "train.eval_every": 0,
        "train.eval_batches": 1,
        "train.threads": 1,
        "train.micro_batch_size": 4,
        "train.workers": 2,
        "train.zero_stage": 2,
        "data.ingest": "strided",  # with data.shuffle off: the single-process order, which the references read
        "data.shuffle": "false",
    }
    cola = {**common, "model.block_size": 1}
    s1, manifest = config_for_data(
        "cola", "tiny", data, {**cola, "train.stage": 1, "train.steps": STAGE1_STEPS, "run.name": f"{tag}-stage1"}
    )
    s2, _ = config_for_data(
        "cola",
        "tiny",
        data,
        {
            **cola,
            "train.stage": 2,
            "train.steps": STAGE2_STEPS,
            "train.ckpt_every": CKPT_EVERY,
            "train.latent_stats_batches": 2,
            "train.latent_evolution": "fixed_vae",
            "run.name": f"{tag}-stage2",
        },
    )
    ar, _ = config_for_data("ar", "tiny", data, {**common, "train.steps": AR_STEPS, "run.name": f"{tag}-ar"})
    return s1, s2, ar, manifest


def losses(run_dir) -> list[float]:
    return [r["loss"] for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r]


def test_merged_stages_match_separate_runs_and_resume_in_stage2(ray_cluster, deepspeed_warm, train_data, tmp_path):
    outs = [tmp_path / "merged" / "stage1", tmp_path / "merged" / "stage2", tmp_path / "merged" / "ar"]
    continues = [False, True, False]
    s1, s2, ar, manifest = stage_configs(train_data.path, f"merged-{tmp_path.name}")
    fault = FaultPlan(step=FAIL_AT, rank=0, marker=str(tmp_path / "fault.pid"), action="raise")
    with pytest.raises(UserError, match="re-run the same command"):
        train_stages([s1, s2, ar], outs, manifest, DistributedOptions(max_failures=0, fault=fault), continues=continues)
    assert not (outs[0] / "result.json").exists(), "no result before the run ends"

    s1, s2, ar, _ = stage_configs(train_data.path, f"merged-{tmp_path.name}")
    first, second, third = train_stages([s1, s2, ar], outs, manifest, continues=continues)

    assert first["steps"] == STAGE1_STEPS and second["steps"] == STAGE2_STEPS and third["steps"] == AR_STEPS
    assert second["resumed_from_step"] == CKPT_EVERY and first["ray_train_stages"] == 3
    assert first["ingest"] == "strided"
    s1, s2, ar, _ = stage_configs(train_data.path, "separate")
    s2.run.init_from = str(outs[0])
    for out, cfg, what in [(outs[0], s1, "stage 1"), (outs[1], s2, "stage 2"), (outs[2], ar, "AR")]:
        separate = reference_run(cfg, manifest, train_data.path, world=2)["losses"]
        assert losses(out) == pytest.approx(separate, rel=1e-5), f"{what} differs from its separate run"
    assert json.loads((outs[2] / "config.json").read_text())["run"]["init_from"] == ""
    assert len(losses(outs[1])) == STAGE2_STEPS, "a resumed step was logged twice or lost"
    assert load_run(outs[0]).cfg.train.stage == 1
    merged_stage2 = load_run(outs[1])
    assert merged_stage2.cfg.train.stage == 2
    assert json.loads((outs[1] / "config.json").read_text())["run"]["init_from"] == str(outs[0].absolute())

    # where the wall time went (rank 0's phase marks): every phase of the run and of its fresh AR stage, none
    # beyond the run's wall time
    phases, run_phases = third["phases"], third["run_phases"]
    assert set(phases) == {"setup", "first_step", "loop", "steps"} and set(run_phases) == {
        "driver_setup",
        "worker_group_start",
        "process_group",
        "teardown",
    }
    assert all(v >= 0 for v in [*phases.values(), *run_phases.values()])
    assert phases["steps"] <= phases["first_step"] + phases["loop"]
    fit_parts = sum(v for k, v in run_phases.items() if k != "driver_setup")
    assert fit_parts + sum(phases[k] for k in ("setup", "first_step", "loop")) <= third["wall_seconds"] + 1.0
    assert "loop" in second["phases"] and "setup" not in first["phases"], "stage 1 finished before the fault"


def test_a_diverged_distributed_run_fails_once_with_the_loop_error(ray_cluster, deepspeed_warm, train_data, tmp_path):
    cfg, manifest = config_for_data(
        "ar",
        "tiny",
        train_data.path,
        {
            "train.steps": 20,
            "train.ckpt_every": 1,
            "train.log_every": 1,
            "train.eval_every": 0,
            "train.eval_batches": 1,
            "train.threads": 1,
            "train.micro_batch_size": 4,
            "train.workers": 2,
            "train.zero_stage": 1,
            # eps 0: Adam's update of a parameter whose gradient is still 0 is 0/0 (DeepSpeed skips steps with
            # non-finite gradients, so a huge learning rate alone does not make the loss non-finite)
            "optim.eps": 0.0,
            "run.name": f"diverge-{tmp_path.name}",
        },
    )
    with pytest.raises(UserError, match=r"the training loss is (nan|inf) at step \d+: the run diverged") as err:
        train_distributed(cfg, tmp_path / "run", manifest, DistributedOptions(max_failures=2))
    assert "re-run the same command" not in str(err.value), "a deterministic error is not reported as retryable"
    assert not (tmp_path / "run" / "result.json").exists()
    logged = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss" in r]
    assert [r["step"] for r in logged] == list(range(1, len(logged) + 1)), "one attempt, no restart replayed steps"
