"""An evaluation-only sweep trial (`[study] checkpoint = RUN`) evaluates the study's checkpoint under the
trial's sampler settings and reports the family's held-out diagnostics with them (Cola's prior probe
samples with the sampler's steps and guidance, so a sampler study needs them); a training trial's
evaluation leaves them to its training loop."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from cola_core.config import Config, apply_overrides
from cola_core.config_checks import validate
from cola_platform.data.prepare_local import PrepareSpec, prepare_texts
from cola_platform.training.export import load_run
from cola_platform.training.local import train_in_process
from cola_platform.tune.trial import TrialContext, evaluate_checkpoint, run_eval
from sweeps.study import SweepStudy

SEQ_LEN = 32


@pytest.fixture(scope="module")
def llada_run(tmp_path_factory) -> Path:
    """A 3-step in-process LLaDA run on a small random-word corpus."""
    torch.set_num_threads(1)
    rng = random.Random(0)
    words = "the a fox owl river hill ran sang over under quietly bright old new".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) + "." for _ in range(300)]
    root = tmp_path_factory.mktemp("eval_only")
    manifest = prepare_texts(
        PrepareSpec(out=str(root / "data"), seq_len=SEQ_LEN, vocab_size=300, source="test", val_fraction=0.1), texts
    )
    cfg = Config.for_family("llada")
    apply_overrides(
        cfg,
        {
            "data.path": str(root / "data"),
            "data.seq_len": SEQ_LEN,
            "data.tokenizer_hash": manifest.tokenizer_hash,
            "model.vocab_size": manifest.vocab_size,
            "model.dim": 32,
            "model.n_heads": 4,
            "model.n_layers": 2,
            "model.mask_id": manifest.special_tokens["mask"],
            "train.steps": 3,
            "train.micro_batch_size": 4,
            "train.eval_batches": 1,
            "optim.warmup_steps": 1,
            "sampler.steps": 16,
        },
    )
    train_in_process(validate(cfg), root / "run", manifest)
    return root / "run"


def context(run: Path, out: Path) -> TrialContext:
    study = SweepStudy(
        name="eval_only",
        family="llada",
        data=str(run.parent / "data"),
        checkpoint=str(run),
        eval_tasks=["sw-quality"],
        eval_items=2,
        objective=["masked_ce_15"],
    )
    return TrialContext(study=study, base={}, out=str(out))


def test_an_evaluation_only_trial_reports_diagnostics_under_its_sampler_settings(llada_run: Path, tmp_path: Path):
    trial_cfg = apply_overrides(load_run(llada_run).cfg, {"sampler.steps": 4, "sampler.remasking": "random"})
    metrics = evaluate_checkpoint(context(llada_run, tmp_path), trial_cfg, tmp_path)
    record = json.loads((tmp_path / "eval.json").read_text())
    assert record["sampler"]["steps"] == 4 and record["sampler"]["remasking"] == "random"
    assert metrics["masked_ce_15"] > 0 and metrics["masked_ce_50"] > 0  # the objective of a LLaDA study
    assert "sw_quality_grammatical" in metrics
    assert load_run(llada_run).cfg.sampler.steps == 16  # the checkpoint itself is untouched


def test_a_training_trials_evaluation_leaves_diagnostics_to_its_loop(llada_run: Path, tmp_path: Path):
    metrics = run_eval(context(llada_run, tmp_path), load_run(llada_run), tmp_path)
    assert "sw_quality_grammatical" in metrics
    assert "masked_ce_15" not in metrics
