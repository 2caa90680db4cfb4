"""The jobs end to end on this machine (in-process training; one bad-input case starts a local Ray instance to
be refused by it): prepare_data -> train -> sample, and bad input."""

import json
import subprocess
import time
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def job(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jobs") / "sw"
    job(
        "jobs.prepare_data",
        "--source",
        "storyworld",
        "--num-docs",
        "1500",
        "--seq-len",
        "64",
        "--vocab-size",
        "512",
        "--out",
        str(out),
        "--engine",
        "local",
    )
    return out


def test_prepare_data_writes_manifest_and_tokenizer(data_dir):
    manifest = json.loads((data_dir / "manifest.json").read_text())
    for key in ("num_sequences", "num_tokens", "seq_len", "vocab_size", "shards", "tokenizer"):
        assert key in manifest
    assert manifest["seq_len"] == 64 and manifest["num_tokens"] == 64 * manifest["num_sequences"]
    assert (data_dir / manifest["tokenizer"]).is_file()


@pytest.mark.parametrize("family", ["ar", "llada", "cola"])
def test_train_then_sample(data_dir, tmp_path, family):
    run = tmp_path / f"{family}-run"
    common = [
        "--preset",
        "tiny",
        "--data",
        str(data_dir),
        "--steps",
        "4",
        "--set",
        "train.eval_batches=1",
        "--set",
        "train.micro_batch_size=4",
    ]
    if family == "cola":  # Stage 1 (the VAE), then Stage 2 (joint) from it: only Stage 2 can sample
        job("jobs.train", "--family", "cola", *common, "--stage", "1", "--out", str(tmp_path / "stage1"))
        common += ["--stage", "2", "--init-from", str(tmp_path / "stage1")]
    job("jobs.train", "--family", family, *common, "--out", str(run))
    result = json.loads((run / "result.json").read_text())
    for key in (
        "family",
        "preset",
        "steps",
        "initial_loss",
        "final_loss",
        "eval_loss",
        "params_total",
        "params_non_embedding",
        "train_flops",
        "tokens_per_second",
    ):
        assert key in result, key
    assert result["family"] == family and result["steps"] == 4 and result["train_flops"] > 0
    assert (run / "metrics.jsonl").read_text().count('"step": 4') >= 1
    out = job("jobs.sample", "--run", str(run), "--prompt", "Once upon a time", "--max-new-tokens", "8", "--json")
    sample = json.loads(out.stdout)
    assert sample["family"] == family and isinstance(sample["completion"], str)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["jobs.train", "--family", "ar", "--data", "/nonexistent/dir", "--steps", "2"], "does not exist"),
        (["jobs.train", "--family", "gpt5", "--data", "{data}", "--steps", "2"], "invalid choice: 'gpt5'"),
        (["jobs.train", "--family", "ar", "--preset", "huge", "--data", "{data}"], "unknown preset"),
        (["jobs.train", "--family", "ar", "--data", "{data}", "--set", "model.nope=1"], "unknown config key"),
        (["jobs.train", "--family", "ar", "--data", "{data}", "--set", "optim.lr=fast"], "not a valid float"),
        (
            ["jobs.train", "--family", "ar", "--data", "{data}", "--set", "model.vocab_size=7"],
            "come from the data manifest",
        ),
        (
            ["jobs.train", "--family", "cola", "--data", "{data}", "--stage", "2", "--out", "{tmp}/x"],
            "needs run.init_from",
        ),
        (
            [
                "jobs.train",
                "--family",
                "cola",
                "--data",
                "{data}",
                "--stage",
                "2",
                "--init-from",
                "{tmp}/nope",
                "--out",
                "{tmp}/x",
            ],
            "must be a directory",
        ),
        (
            ["jobs.train", "--family", "ar", "--data", "{data}", "--steps", "2", "--workers", "3", "--out", "{tmp}/x"],
            "do not fit the Ray cluster",
        ),
        (["jobs.sample", "--run", "/nonexistent/run", "--prompt", "x"], "does not exist"),
        (["jobs.sample", "--run", "/nonexistent/run", "--max-new-tokens", "-1"], "must be >= 1"),
        (["jobs.eval", "--run", "/nonexistent/run", "--max-new-tokens", "0", "--out", "{tmp}/x"], "must be >= 1"),
        (
            ["jobs.prepare_data", "--source", "file:/nonexistent.txt", "--seq-len", "64", "--out", "{tmp}/x"],
            "does not exist",
        ),
    ],
)
def test_bad_input_is_one_line_and_nonzero(data_dir, tmp_path, args, fragment):
    args = [a.replace("{data}", str(data_dir)).replace("{tmp}", str(tmp_path)) for a in args]
    proc = job(*args, check=False)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:") and fragment in lines[-1], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_second_train_into_the_same_run_dir_exits_at_once_naming_the_first(data_dir, tmp_path):
    run = tmp_path / "shared"
    args = [
        sys.executable,
        "-m",
        "jobs.train",
        "--family",
        "ar",
        "--preset",
        "tiny",
        "--data",
        str(data_dir),
        "--steps",
        "100000",
        "--set",
        "train.micro_batch_size=2",
        "--out",
        str(run),
    ]
    first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (run / "metrics.jsonl").exists(), "the first run did not start"
        second = job("jobs.train", *args[3:], check=False)
        assert second.returncode != 0 and f"in use by pid {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    finally:
        first.kill()
        first.wait()


def test_a_tokenizer_that_is_not_the_manifests_is_refused(data_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    manifest = json.loads((data / "manifest.json").read_text())
    tok = json.loads((data / manifest["tokenizer"]).read_text())
    tok["model"]["vocab"]["zzz-not-a-token"] = max(tok["model"]["vocab"].values()) + 1
    (data / manifest["tokenizer"]).write_text(json.dumps(tok))
    proc = job(
        "jobs.train",
        "--family",
        "ar",
        "--preset",
        "tiny",
        "--data",
        str(data),
        "--steps",
        "2",
        "--out",
        str(tmp_path / "x"),
        check=False,
    )
    assert (
        proc.returncode != 0
        and "is not the tokenizer its manifest was prepared with" in proc.stderr.strip().splitlines()[-1]
    )
    assert not (tmp_path / "x").exists()


def test_credentials_inside_uris_never_reach_the_run_directory(data_dir, tmp_path):
    from cola_platform.data.manifest import read_manifest
    from cola_platform.training.local import prepare_run_dir
    from cola_platform.training.run_dir import RunDir
    from cola_platform.training.setup import config_for_data

    cfg, manifest = config_for_data(
        "ar", "tiny", str(data_dir), {"run.tracking_uri": "http://alice:s3cr3t-pw@127.0.0.1:9/x?token=abc"}
    )
    prepare_run_dir(cfg, RunDir(tmp_path / "run"), read_manifest(str(data_dir)))
    saved = (tmp_path / "run" / "config.json").read_text()
    assert "s3cr3t-pw" not in saved and "token=abc" not in saved and "alice" not in saved
    assert json.loads(saved)["run"]["tracking_uri"] == "http://127.0.0.1:9/x"
    assert cfg.run.tracking_uri.startswith("http://alice:"), "the live config keeps what it needs to connect"
