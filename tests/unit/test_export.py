"""`jobs.export` on tiny runs trained in-process: the AR `llama` export loads in transformers with our logits
(to 1e-4); LLaDA's round-trips and says it is bidirectional (and matches under a full attention mask); Cola's
VAE + DiT export reads back to the same weights and outputs; the export never touches the model; bad input
is one error line and exit code 2."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from cola_core.config import Config, apply_overrides
from cola_core.config_checks import validate
from cola_core.registry import get_family
from cola_core.sampling import cut_at_eos
from cola_platform.data.prepare_local import PrepareSpec, prepare_texts
from cola_platform.export import load_export, write_export
from cola_platform.training.export import load_run
from cola_platform.training.local import train_in_process
from jobs import export as export_job
from jobs._cli import run_main

SEQ_LEN = 32


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    rng = random.Random(0)
    words = "the a fox owl river hill ran sang over under quietly bright old new".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) + "." for _ in range(300)]
    out = tmp_path_factory.mktemp("data") / "d"
    spec = PrepareSpec(out=str(out), seq_len=SEQ_LEN, vocab_size=300, source="test", val_fraction=0.1)
    manifest = prepare_texts(spec, texts)
    return str(out), manifest


def train(data, root: Path, family: str, **over) -> Path:
    """A 3-step in-process run of `family` in root/family; returns the run directory."""
    data_dir, manifest = data
    cfg = Config.for_family(family)
    apply_overrides(
        cfg,
        {
            "data.path": data_dir,
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
            **over,
        },
    )
    train_in_process(validate(cfg), root / family, manifest)
    return root / family


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    cola = {
        "train.stage": 2,
        "train.latent_evolution": "scratch",
        "model.vae_dim": 32,
        "model.vae_heads": 4,
        "model.latent_dim": 8,
        "model.timestep_freq_dim": 32,
    }
    return {
        "ar": train(data, root, "ar", **{"model.rope_theta": 500.0}),
        "llada": train(data, root, "llada"),
        "cola": train(data, root, "cola", **cola),
    }


def export(run: Path, fmt: str, out: Path) -> Path:
    assert export_job.main(["--run", str(run), "--format", fmt, "--out", str(out)]) == 0
    return out


def job_error(capsys, *argv: str) -> str:
    """The one stderr line of a refused `jobs.export` (exit code 2)."""
    with pytest.raises(SystemExit) as stop:
        run_main(export_job.main, list(argv))
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def random_ids(vocab: int, shape=(3, 24)) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(1))


def test_ar_llama_export_loads_in_transformers_with_our_logits(runs, tmp_path):
    import transformers  # the `test` extra; imported here so the other tests start without it

    out = export(runs["ar"], "llama", tmp_path / "ar-hf")
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "result.json",
    }
    ours = load_run(runs["ar"])
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(hf).__name__ == "LlamaForCausalLM" and hf.config.rope_parameters["rope_theta"] == 500.0
    ids = random_ids(ours.cfg.model.vocab_size)
    with torch.no_grad():
        assert torch.allclose(hf(ids).logits, ours.model(ids), atol=1e-4, rtol=0)
    tok = transformers.AutoTokenizer.from_pretrained(out)
    text = "the old fox ran over the bright hill."
    assert tok(text)["input_ids"] == ours.tokenizer.encode(text) and tok.eos_token_id == ours.cfg.model.eos_id
    # greedy decoding agrees too (the run's sampler is greedy; generation_config.json says so)
    prompt = ours.tokenizer.encode("the fox")
    with torch.no_grad():
        theirs = hf.generate(torch.tensor([prompt]), max_new_tokens=6)[0, len(prompt) :].tolist()
    mine = ours.spec.build_sampler(ours.model, ours.cfg).generate([prompt], 6)[0]
    assert mine == cut_at_eos(theirs, ours.cfg.model.eos_id)  # HF keeps the EOS it stops at, ours drops it


@pytest.mark.parametrize("tied", [True, False])
def test_llama_map_on_large_random_weights(tmp_path, tied):
    """Weights far from init (std 0.3, norms 1 +- 0.3) and a non-default RoPE theta, so a wrong name,
    split, permutation, epsilon or theta shows up far above the 1e-4 tolerance."""
    import transformers
    from cola_core.data.tokenizer import train_bpe

    tok = train_bpe(["the fox ran over the hill."] * 20, vocab_size=280)
    cfg = apply_overrides(
        Config(),
        {
            "model.vocab_size": tok.vocab_size,
            "model.dim": 32,
            "model.n_heads": 2,
            "model.ffn_hidden": 48,
            "model.rope_theta": 300.0,
            "model.tie_embeddings": tied,
        },
    )
    torch.manual_seed(0)
    model = get_family("ar").build_model(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "norm" in name else 0.0))
    write_export(model, cfg, tok, "llama", tmp_path / "hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    ids = random_ids(tok.vocab_size, (2, 16))
    with torch.no_grad():
        expected = model(ids)
        assert expected.std() > 1.0 and torch.allclose(hf(ids).logits, expected, atol=1e-4, rtol=0)
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["tie_word_embeddings"] is tied


def test_llada_llama_export_round_trips_and_is_marked_bidirectional(runs, tmp_path):
    out = export(runs["llada"], "llama", tmp_path / "llada-hf")
    config = json.loads((out / "config.json").read_text())
    assert config["bidirectional"] is True and "not a causal language model" in config["note"]
    assert not (out / "generation_config.json").exists()
    ours = load_run(runs["llada"])
    assert config["mask_token_id"] == ours.cfg.model.mask_id
    back = load_export(out)
    assert back.family == "llada" and type(back.model) is type(ours.model)
    assert back.model.state_dict().keys() == ours.model.state_dict().keys()
    assert all(torch.equal(v, ours.model.state_dict()[k]) for k, v in back.model.state_dict().items())

    import transformers

    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ids = random_ids(ours.cfg.model.vocab_size)
    ids[:, ::3] = ours.cfg.model.mask_id
    full = torch.zeros(ids.shape[0], 1, ids.shape[1], ids.shape[1])  # (B, 1, T, T) additive: attend everywhere
    with torch.no_grad():
        expected = ours.model(ids)
        assert torch.allclose(hf(ids, attention_mask=full).logits, expected, atol=1e-4, rtol=0)
        assert not torch.allclose(hf(ids).logits, expected, atol=1e-2)  # the default causal mask is wrong for it


def test_cola_export_reads_back_to_the_same_model(runs, tmp_path):
    out = export(runs["cola"], "cola", tmp_path / "cola-export")
    assert {"vae.safetensors", "dit.safetensors", "config.json"} <= {p.name for p in out.iterdir()}
    ours, back = load_run(runs["cola"]), load_export(out)
    mine, theirs = ours.model.state_dict(), back.model.state_dict()
    assert theirs.keys() == {k for k in mine if not k.startswith("ref_encoder.")}
    assert all(torch.equal(v, mine[k]) for k, v in theirs.items())
    assert back.cfg.to_dict() == ours.cfg.to_dict() and back.tokenizer.fingerprint() == ours.tokenizer.fingerprint()
    cfg = apply_overrides(ours.cfg, {"sampler.steps": 2, "sampler.temperature": 0.0})
    prompt = [ours.tokenizer.encode("the fox ran")]
    a = ours.spec.build_sampler(ours.model, cfg).generate(prompt, 8)
    assert back.model.latent_scale.abs().sum() > 0 and a == ours.spec.build_sampler(back.model, cfg).generate(prompt, 8)


@pytest.mark.parametrize("stage", [1, 2])
def test_cola_export_of_each_stage(tmp_path, stage):
    """Stage 1 exports only the VAE; a joint Stage 2 drops its training-only reference encoder."""
    from cola_core.data.tokenizer import train_bpe
    from test_cola_helpers import tiny_cfg, tiny_model

    tok = train_bpe(["an owl sang over the river."] * 20, vocab_size=270)
    cfg = tiny_cfg(stage=stage, evolution="joint", vocab_size=tok.vocab_size)
    model = tiny_model(cfg)
    write_export(model, cfg, tok, "cola", tmp_path / "cola")
    assert (tmp_path / "cola" / "dit.safetensors").exists() == (stage == 2)
    back = load_export(tmp_path / "cola").model
    mine = {k: v for k, v in model.state_dict().items() if not k.startswith("ref_encoder.")}
    assert (model.ref_encoder is not None) == (stage == 2) and back.ref_encoder is None
    assert back.state_dict().keys() == mine.keys()
    assert all(torch.equal(v, mine[k]) for k, v in back.state_dict().items())


def test_export_leaves_the_model_untouched(tmp_path):
    from cola_core.data.tokenizer import train_bpe

    tok = train_bpe(["an owl sang."] * 20, vocab_size=270)
    cfg = apply_overrides(Config(), {"model.vocab_size": tok.vocab_size, "model.dim": 16, "model.n_heads": 2})
    model = get_family("ar").build_model(cfg).to(torch.bfloat16)
    before = {k: (v.clone(), v.data_ptr()) for k, v in model.state_dict().items()}
    write_export(model, cfg, tok, "llama", tmp_path / "bf16")
    after = model.state_dict()
    assert all(
        after[k].dtype == torch.bfloat16 and after[k].data_ptr() == ptr and torch.equal(after[k], v)
        for k, (v, ptr) in before.items()
    )
    back = load_export(tmp_path / "bf16").model
    assert all(p.dtype == torch.float32 for p in back.parameters())
    assert torch.equal(back.embed.weight, model.embed.weight.float())


def test_bad_input_is_one_error_line(runs, tmp_path, capsys):
    missing = str(tmp_path / "nope")
    assert "does not exist" in job_error(capsys, "--run", missing, "--format", "llama", "--out", str(tmp_path / "a"))
    err = job_error(capsys, "--run", str(runs["cola"]), "--format", "llama", "--out", str(tmp_path / "b"))
    assert "cola model cannot be exported as 'llama'" in err and "cola" in err.split("formats:")[1]
    assert "cannot be exported as 'cola'" in job_error(
        capsys, "--run", str(runs["ar"]), "--format", "cola", "--out", str(tmp_path / "c")
    )
    assert "invalid choice: 'onnx'" in job_error(capsys, "--run", str(runs["ar"]), "--format", "onnx")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    err = job_error(capsys, "--run", str(runs["ar"]), "--format", "llama", "--out", str(tmp_path / "full"))
    assert "not empty" in err
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    assert not {"a", "b", "c"} & {p.name for p in tmp_path.iterdir()}  # nothing half-written
    (tmp_path / "empty").mkdir()
    export(runs["ar"], "llama", tmp_path / "empty")  # an empty directory is fine


def test_a_runs_fp32_export_leaves_a_bf16_model_bf16(tmp_path: Path):
    """`export_model` writes fp32 weights without converting the live model (training may go on)."""
    from safetensors.torch import load_file

    from cola_platform.training.export import export_model
    from cola_platform.training.run_dir import RunDir

    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10)).to(torch.bfloat16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_model(model, RunDir(tmp_path))
    written = load_file(str(RunDir(tmp_path).model))
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(t.dtype == torch.float32 for t in written.values())
    assert torch.equal(written["1.weight"], before["1.weight"].float())
