"""A study's `[prepare]` table: parsed by `jobs.prepare_data`'s own flag definitions, prepared in process."""

from __future__ import annotations

import logging

import pytest

from cola_platform.data.ensure import ensure_prepared
from cola_platform.data.manifest import read_manifest
from cola_platform.data.prepare_args import config_from_args, config_from_table
from cola_platform.errors import UserError
from jobs.prepare_data import build_parser


def test_a_table_means_what_the_same_flags_mean_on_the_command_line(tmp_path):
    table = {"source": "storyworld", "num_docs": 300, "seq_len": 32, "vocab_size": 320, "engine": "local"}
    got = config_from_table(str(tmp_path / "d"), table)
    argv = ["--out", str(tmp_path / "d"), "--source", "storyworld", "--num-docs", "300", "--seq-len", "32"]
    cli = config_from_args(build_parser().parse_args([*argv, "--vocab-size", "320", "--engine", "local"]))
    assert got == cli and got.source.num_docs == 300 and got.vocab_size == 320 and got.engine == "local"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"source": "storyworld", "seq_len": 32, "bogus": 1}, r"\[prepare\] table: unrecognized arguments: --bogus 1"),
        ({"source": "storyworld"}, r"\[prepare\] table: the following arguments are required: --seq-len"),
        ({"source": "storyworld", "seq_len": 32, "engine": "spark"}, r"\[prepare\] table: argument --engine"),
        ({"source": "storyworld", "seq_len": 1}, "need --seq-len >= 2"),
    ],
)
def test_a_bad_table_is_one_line(tmp_path, table, message):
    with pytest.raises(UserError, match=message) as caught:
        ensure_prepared(str(tmp_path / "d"), table)
    assert len(str(caught.value).splitlines()) == 1 and not (tmp_path / "d").exists()


def test_missing_data_is_prepared_in_this_process_once(tmp_path, caplog):
    table = {"source": "storyworld", "num_docs": 200, "seq_len": 32, "vocab_size": 320, "engine": "local"}
    out = str(tmp_path / "d")
    with caplog.at_level(logging.INFO, logger="cola_platform.data"):
        ensure_prepared(out, table)
    assert read_manifest(out).num_sequences > 0
    assert any(r.getMessage().startswith("prepared ") for r in caplog.records), "the progress is this process's"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cola_platform.data"):
        ensure_prepared(out, table)
    assert not any(r.getMessage().startswith("prepared ") for r in caplog.records), "prepared twice"
