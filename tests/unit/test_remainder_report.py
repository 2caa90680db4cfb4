"""A sweep summary's per-remainder table: accuracies in remainder order, the boundary gap and its error."""

import math

import pytest

from sweeps.remainder_report import remainder_markdown, remainder_rows


def test_gap_is_r0_minus_the_mean_of_the_others_with_independent_errors():
    rec = {
        "status": "ok",
        "model.boundary": "official",
        "continuation_mod2_acc": 0.2,
        "continuation_mod0_acc": 0.5,
        "continuation_mod1_acc": 0.1,
        "continuation_mod0_acc_stderr": 0.03,
        "continuation_mod1_acc_stderr": 0.04,
        "continuation_mod2_acc_stderr": 0.02,
        "sw_lambada_mod0_acc": 0.0,  # one remainder only: no table
    }
    failed = {"status": "error", "continuation_mod0_acc": 1.0, "continuation_mod1_acc": 0.0}
    [row] = remainder_rows([rec, failed], ["model.boundary"])
    assert row["task"] == "continuation" and row["model.boundary"] == "official"
    assert row["accuracy"] == [0.5, 0.1, 0.2] and row["stderr"] == [0.03, 0.04, 0.02]
    assert row["gap"] == pytest.approx(0.5 - 0.15)
    assert row["gap_stderr"] == pytest.approx(math.sqrt(0.03**2 + (0.04**2 + 0.02**2) / 4))
    table = remainder_markdown([row], ["model.boundary"])
    assert "| official | 0.500 ± 0.030 | 0.100 ± 0.040 | 0.200 ± 0.020 | +0.350 ± 0.037 |" in table


def test_no_table_without_per_remainder_metrics():
    assert remainder_rows([{"status": "ok", "eval_loss": 1.0}], []) == []
    assert remainder_markdown([], []) == []
