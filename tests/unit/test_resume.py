"""Checkpoint save/resume: an interrupted-then-resumed run reproduces the uninterrupted loss curve."""

import random

import pytest

from cola_core.config import Config, apply_overrides, validate
from cola_core.train.loop import LoopHooks
from cola_platform.data.prepare_local import PrepareSpec, prepare_texts
from cola_platform.training.local import train_in_process
from cola_platform.training.run_dir import read_metrics


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = random.Random(0)
    words = "the a fox owl river hill ran sang over under quietly bright old new".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) + "." for _ in range(600)]
    out = tmp_path_factory.mktemp("data") / "d"
    manifest = prepare_texts(PrepareSpec(out=str(out), seq_len=32, vocab_size=300, source="test", val_fraction=0.1), texts)
    return str(out), manifest


def make_cfg(data_dir, manifest, family="ar") -> Config:
    cfg = Config()
    cfg.run.family = family
    apply_overrides(cfg, {
        "data.path": data_dir, "data.seq_len": 32, "data.tokenizer_hash": manifest.tokenizer_hash,
        "model.vocab_size": manifest.vocab_size, "model.dim": 32, "model.n_heads": 4, "model.mask_id": manifest.special_tokens["mask"],
        "train.steps": 12, "train.micro_batch_size": 4, "train.grad_accum": 2, "train.log_every": 1,
        "train.eval_every": 4, "train.ckpt_every": 5, "train.eval_batches": 2, "optim.warmup_steps": 3,
    })
    return validate(cfg)


@pytest.mark.parametrize("family", ["ar", "llada"])
def test_resumed_run_reproduces_loss_curve(data, tmp_path, family):
    data_dir, manifest = data
    full = train_in_process(make_cfg(data_dir, manifest, family), tmp_path / "full", manifest)

    def stop_at_7(record):
        if record.get("step") == 7 and "loss" in record:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_in_process(make_cfg(data_dir, manifest, family), tmp_path / "cut", manifest, LoopHooks(on_record=[stop_at_7]))
    assert not (tmp_path / "cut" / "result.json").exists()
    resumed = train_in_process(make_cfg(data_dir, manifest, family), tmp_path / "cut", manifest)

    assert resumed["resumed_from_step"] == 5 and full["resumed_from_step"] == 0
    a, b = read_metrics(tmp_path / "full" / "metrics.jsonl"), read_metrics(tmp_path / "cut" / "metrics.jsonl")
    steps_b = [r["step"] for r in b if "loss" in r]
    assert steps_b == list(range(1, 13)), "every step exactly once"
    loss_a, loss_b = [r["loss"] for r in a if "loss" in r], [r["loss"] for r in b if "loss" in r]
    assert loss_b == pytest.approx(loss_a, abs=1e-6)
    assert resumed["eval_loss"] == pytest.approx(full["eval_loss"], abs=1e-6)
    assert full["final_loss"] < full["initial_loss"]
