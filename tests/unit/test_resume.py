"""Checkpoint save/resume: an interrupted-then-resumed run reproduces the uninterrupted loss curve."""

import random

import pytest

from cola_core.config import Config, apply_overrides
from cola_core.config_checks import validate
from cola_core.train.loop import LoopHooks
from cola_platform.data.prepare_local import PrepareSpec, prepare_texts
from cola_platform.faults.inject import Interrupt, overwrite_middle, stop_at
from cola_platform.training.local import train_in_process
from cola_platform.training.run_dir import read_metrics


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = random.Random(0)
    words = "the a fox owl river hill ran sang over under quietly bright old new".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) + "." for _ in range(600)]
    out = tmp_path_factory.mktemp("data") / "d"
    manifest = prepare_texts(
        PrepareSpec(out=str(out), seq_len=32, vocab_size=300, source="test", val_fraction=0.1), texts
    )
    return str(out), manifest


def make_cfg(data_dir, manifest, family="ar", optimizer="adamw") -> Config:
    cfg = Config.for_family(family)
    apply_overrides(
        cfg,
        {
            "data.path": data_dir,
            "data.seq_len": 32,
            "data.tokenizer_hash": manifest.tokenizer_hash,
            "model.vocab_size": manifest.vocab_size,
            "model.dim": 32,
            "model.n_heads": 4,
            "model.mask_id": manifest.special_tokens["mask"],
            "train.steps": 12,
            "train.micro_batch_size": 4,
            "train.grad_accum": 2,
            "train.log_every": 1,
            "train.eval_every": 4,
            "train.ckpt_every": 5,
            "train.eval_batches": 2,
            "optim.warmup_steps": 3,
            "optim.name": optimizer,
        },
    )
    return validate(cfg)


@pytest.mark.parametrize("family, optimizer", [("ar", "adamw"), ("llada", "adamw"), ("ar", "muon")])
def test_resumed_run_reproduces_loss_curve(data, tmp_path, family, optimizer):
    data_dir, manifest = data
    full = train_in_process(make_cfg(data_dir, manifest, family, optimizer), tmp_path / "full", manifest)

    with pytest.raises(Interrupt):
        train_in_process(
            make_cfg(data_dir, manifest, family, optimizer),
            tmp_path / "cut",
            manifest,
            LoopHooks(on_record=[stop_at(7)]),
        )
    assert not (tmp_path / "cut" / "result.json").exists()
    resumed = train_in_process(make_cfg(data_dir, manifest, family, optimizer), tmp_path / "cut", manifest)

    assert resumed["resumed_from_step"] == 5 and full["resumed_from_step"] == 0
    a, b = read_metrics(tmp_path / "full" / "metrics.jsonl"), read_metrics(tmp_path / "cut" / "metrics.jsonl")
    steps_b = [r["step"] for r in b if "loss" in r]
    assert steps_b == list(range(1, 13)), "every step exactly once"
    loss_a, loss_b = [r["loss"] for r in a if "loss" in r], [r["loss"] for r in b if "loss" in r]
    assert loss_b == pytest.approx(loss_a, abs=1e-6)
    assert resumed["eval_loss"] == pytest.approx(full["eval_loss"], abs=1e-6)
    assert full["final_loss"] < full["initial_loss"]


def test_resume_skips_a_damaged_checkpoint_and_falls_back_to_the_previous_one(data, tmp_path, caplog):
    data_dir, manifest = data
    cfg = lambda: apply_overrides(make_cfg(data_dir, manifest), {"train.ckpt_every": 3})  # noqa: E731
    train_in_process(cfg(), tmp_path / "full", manifest)  # the uninterrupted reference run

    with pytest.raises(Interrupt):
        train_in_process(cfg(), tmp_path / "cut", manifest, LoopHooks(on_record=[stop_at(8)]))
    ckpts = tmp_path / "cut" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["step_3", "step_6"]
    overwrite_middle(ckpts / "step_6" / "model.safetensors", 4096)  # in place: same size, wrong content

    resumed = train_in_process(cfg(), tmp_path / "cut", manifest)
    assert resumed["resumed_from_step"] == 3
    assert "step_6: model.safetensors does not match its checksum" in caplog.text
    losses = lambda run: [r["loss"] for r in read_metrics(tmp_path / run / "metrics.jsonl") if "loss" in r]  # noqa: E731
    assert losses("cut") == pytest.approx(losses("full"), abs=1e-6), "resumed from step 3 exactly"


def test_truncated_or_unmanifested_checkpoints_are_not_valid(tmp_path):
    from cola_core.train.checkpoints import LocalCheckpoints, verify

    ckpts = LocalCheckpoints(tmp_path, keep=3)
    for step in (1, 2):
        ckpts.save(step, lambda d: (d.mkdir(parents=True), (d / "optimizer.pt").write_bytes(b"x" * 100)))
    assert ckpts.latest_valid() == (tmp_path / "step_2", [])
    (tmp_path / "step_2" / "optimizer.pt").write_bytes(b"x" * 10)
    (tmp_path / "step_3").mkdir()  # e.g. a copy that stopped before its manifest
    latest, skipped = ckpts.latest_valid()
    assert latest == tmp_path / "step_1"
    assert [(s.path.name, s.reason) for s in skipped] == [
        ("step_3", "no readable checkpoint.json"),
        ("step_2", "optimizer.pt has 10 bytes, its manifest 100"),
    ]
    assert verify(tmp_path / "step_1") == ""


def test_a_diverged_run_fails_clearly_and_writes_no_result(data, tmp_path):
    from cola_core.train.loop import DivergedError

    data_dir, manifest = data
    cfg = apply_overrides(
        make_cfg(data_dir, manifest),
        {"optim.lr": 1e30, "optim.warmup_steps": 0, "optim.grad_clip": 0.0, "train.ckpt_every": 1},
    )
    with pytest.raises(DivergedError, match=r"the training loss is (nan|inf) at step \d+: the run diverged"):
        train_in_process(cfg, tmp_path / "run", manifest)
    assert not (tmp_path / "run" / "result.json").exists()
    good = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss" in r]
    assert all(r["loss"] == r["loss"] and abs(r["loss"]) < float("inf") for r in good), "no non-finite step logged"
    saved = sorted(int(p.name.split("_")[1]) for p in (tmp_path / "run" / "checkpoints").glob("step_*"))
    assert saved and saved[-1] == len(good), "the last checkpoint is the last good step"
