"""Ray Train checkpoints that prove themselves, without Ray: per-rank manifests, the resume choice, load failures.

Two ranks' temp directories are merged into one checkpoint directory as Ray Train does; the checks
run on a local directory and on S3 (moto on loopback). The Ray Train round trip is in
test_fault_tolerance.py (local) and test_distributed_resume.py (S3).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cola_platform import storage as st
from cola_platform.training.checkpoint_load import CheckpointDamaged, load_checkpoint
from cola_platform.training.checkpoint_manifest import META_FILE, verify_checkpoint, write_rank_manifest
from cola_platform.training.resume_choice import (
    SNAPSHOT,
    UNREGISTERED,
    choose_checkpoint,
    forget,
    read_snapshot,
    resume_checkpoint,
)

MODEL = "ckpt/mp_rank_00_model_states.pt"


def write_checkpoint(root: Path, step: int, world: int = 2) -> Path:
    """`root/step_<N>` as Ray Train leaves it: every rank's temp dir (own files + manifest) merged."""
    final = root / f"step_{step:08d}"
    for rank in range(world):
        tmp = root / f".rank{rank}"
        (tmp / "ckpt").mkdir(parents=True)
        (tmp / "ckpt" / "latest").write_text("ckpt")  # written by every rank, same bytes
        (tmp / "ckpt" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").write_bytes(bytes([rank, step]) * 5000)
        if rank == 0:
            (tmp / MODEL).write_bytes(bytes(range(256)) * 64 + bytes([step]))
            (tmp / META_FILE).write_text(json.dumps({"step": step, "world_size": world}))
        write_rank_manifest(tmp, step, rank, world)
        shutil.copytree(tmp, final, dirs_exist_ok=True)
        shutil.rmtree(tmp)
    return final


def snapshot(names: list[str]) -> dict:
    """A Ray Train V2 checkpoint-manager snapshot registering `names` (the last one is the latest)."""
    results = [{"version": 0, "checkpoint_dir_name": n, "metrics": {"step": i}} for i, n in enumerate(names)]
    return {
        "ray_version": "2.60.0",
        "checkpoint_results": results,
        "checkpoint_report_indices": list(range(len(names))),
        "latest_checkpoint_result": results[-1] if results else None,
        "pending_training_results": [],
        "pending_validation_specs": [],
        "current_report_index": len(names),
        "validated_checkpoint_dir_names": [],
        "timed_out_validation_checkpoint_dir_names": [],
        "failed_validation_checkpoint_dir_names": [],
    }


def overwrite_middle(path: Path, nbytes: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2 - nbytes // 2
    data[mid : mid + nbytes] = bytes(b ^ 0xFF for b in data[mid : mid + nbytes])
    path.write_bytes(bytes(data))


def test_rank_manifests_prove_a_merged_checkpoint(tmp_path):
    ckpt = write_checkpoint(tmp_path, 4)
    assert sorted(p.name for p in ckpt.glob("checkpoint.rank_*.json")) == [
        "checkpoint.rank_0.json",
        "checkpoint.rank_1.json",
    ]
    assert verify_checkpoint(str(ckpt)) == ""

    overwrite_middle(ckpt / MODEL)
    assert verify_checkpoint(str(ckpt)) == f"{MODEL} does not match its checksum"
    (ckpt / MODEL).write_bytes((ckpt / MODEL).read_bytes()[:1000])
    assert verify_checkpoint(str(ckpt)).startswith(f"{MODEL} has 1000 bytes")
    (ckpt / "checkpoint.rank_1.json").unlink()  # rank 1's upload never finished
    assert verify_checkpoint(str(ckpt)) == "checkpoint.rank_1.json is missing"
    (ckpt / META_FILE).unlink()
    assert verify_checkpoint(str(ckpt)) == f"{META_FILE} is missing"


def test_resume_takes_the_newest_valid_registered_checkpoint_and_sets_the_rest_aside(tmp_path, caplog):
    ray_mod = pytest.importorskip("ray.train.v2._internal.execution.checkpoint.checkpoint_manager")
    run = tmp_path / "run"
    ckpts = [write_checkpoint(run, step) for step in (2, 4, 6, 8)]
    (run / SNAPSHOT).write_text(json.dumps(snapshot([c.name for c in ckpts[:3]])))  # step 8: never registered
    overwrite_middle(ckpts[2] / MODEL)
    uris = [str(c) for c in ckpts]

    choice = choose_checkpoint(str(run), uris)
    assert choice.checkpoint == str(ckpts[1])
    assert [(s.name, s.reason) for s in choice.skipped] == [
        ("step_00000008", UNREGISTERED),
        ("step_00000006", f"{MODEL} does not match its checksum"),
    ]

    with caplog.at_level("WARNING", logger="cola_platform.training.resume_choice"):
        assert resume_checkpoint(str(run), uris) == str(ckpts[1])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "step_00000006" in warnings[0] and "step_00000008" in warnings[0]
    assert warnings[0].endswith("resuming from step_00000004")
    assert sorted(p.name for p in run.glob("step_*")) == ["step_00000002", "step_00000004"]
    assert sorted(p.name for p in (run / "skipped").iterdir()) == ["step_00000006", "step_00000008"]
    state = read_snapshot(str(run))
    ray_mod._CheckpointManagerState.parse_obj(state)  # still a snapshot Ray Train loads
    assert [r["checkpoint_dir_name"] for r in state["checkpoint_results"]] == ["step_00000002", "step_00000004"]
    assert state["latest_checkpoint_result"]["checkpoint_dir_name"] == "step_00000004"
    assert resume_checkpoint(str(run), [str(c) for c in ckpts[:2]]) == str(ckpts[1])  # nothing left to skip

    assert forget(state, {"step_00000002", "step_00000004"}, None)["latest_checkpoint_result"] is None


def test_resume_choice_on_s3(s3_bucket, tmp_path):
    local = tmp_path / "run"
    ckpts = [write_checkpoint(local, step) for step in (2, 4)]
    (local / SNAPSHOT).write_text(json.dumps(snapshot([c.name for c in ckpts])))
    (ckpts[1] / MODEL).write_bytes((ckpts[1] / MODEL).read_bytes()[:100])
    run = f"{s3_bucket}/ray/run"
    fs, path = st.filesystem(run)
    fs.put(str(local) + "/", path, recursive=True)
    uris = [st.join(run, c.name) for c in ckpts]

    assert verify_checkpoint(uris[0]) == "" and verify_checkpoint(uris[1]).startswith(f"{MODEL} has 100 bytes")
    assert resume_checkpoint(run, uris) == uris[0]
    assert fs.exists(f"{path}/skipped/step_00000004/{META_FILE}") and not fs.exists(f"{path}/step_00000004")
    assert [r["checkpoint_dir_name"] for r in read_snapshot(run)["checkpoint_results"]] == ["step_00000002"]


class FailingEngine:
    def load(self, directory: Path, universal: bool = False) -> dict:
        raise RuntimeError("PytorchStreamReader failed reading zip archive")


def test_a_damaged_checkpoint_stops_once_and_other_load_failures_are_left_to_restarts(tmp_path):
    ckpt = write_checkpoint(tmp_path, 4)
    stops: list[str] = []
    with pytest.raises(RuntimeError, match="PytorchStreamReader"):  # files intact: maybe a peer died, retry
        load_checkpoint(FailingEngine(), ckpt, stops.append)
    assert stops == []
    (ckpt / MODEL).write_bytes(b"")
    with pytest.raises(CheckpointDamaged):
        load_checkpoint(FailingEngine(), ckpt, stops.append)
    assert len(stops) == 1 and stops[0].startswith("checkpoint step_00000004 cannot be loaded: ")
    assert "\n" not in stops[0]
