"""`jobs.prepare_data --qa-share / --mc-share`: the storyworld corpus mix a dataset is prepared with."""

import subprocess
import sys
from pathlib import Path

import pytest

from cola_platform.data.sources import Source
from cola_platform.data.units import iter_unit_docs, plan_units
from cola_platform.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def texts(source: Source) -> list[str]:
    return [
        d.text
        for u in plan_units(source, [], target_bytes=1 << 62, docs_per_unit=1 << 62, min_units=1)
        for d in iter_unit_docs(u, source)
    ]


def test_the_shares_decide_which_documents_a_storyworld_source_reads():
    qa_only = texts(Source("storyworld", num_docs=30, qa_share=1.0, mc_share=0.0))
    plain = texts(Source("storyworld", num_docs=30, qa_share=0.0, mc_share=0.0))
    default = texts(Source("storyworld", num_docs=30))
    assert all("\nQuestion: " in t for t in qa_only)
    assert not any("\nQuestion: " in t or "\nAnswer:" in t for t in plain)
    assert texts(Source("storyworld", num_docs=30, qa_share=0.15, mc_share=0.10)) == default  # the defaults
    assert Source("storyworld", num_docs=5, qa_share=0.4).describe() == "storyworld(num_docs=5, seed=0, qa_share=0.4)"


def test_impossible_shares_are_a_user_error():
    with pytest.raises(UserError, match="--qa-share"):
        Source("storyworld", num_docs=5, qa_share=0.8, mc_share=0.5).corpus_mix()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "storyworld", "--num-docs", "5", "--qa-share", "1.5"], "--qa-share / --mc-share"),
        (["--source", "file:x.jsonl", "--qa-share", "0.3"], "storyworld only"),
    ],
)
def test_bad_shares_fail_in_one_line_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.prepare_data", "--out", str(out), "--seq-len", "64", "--engine", "local", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode != 0 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()
