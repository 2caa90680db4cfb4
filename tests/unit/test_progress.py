"""Progress lines: durations read like a person writes them, the ETA comes from the rate since the first
record (so a resumed run is not skewed by the steps it skipped), and eval records get their own line."""

import logging

import pytest

from cola_platform import progress
from cola_platform.progress import eta_seconds, format_duration, training_progress


def test_format_duration():
    assert [format_duration(s) for s in (0, 42.4, 185, 7440)] == ["0 s", "42 s", "3 min 5 s", "2 h 4 min"]
    assert format_duration(float("nan")) == format_duration(-1) == "?"


def test_eta_is_the_remaining_work_at_the_mean_rate():
    assert eta_seconds(done=25, total=100, elapsed=10) == pytest.approx(30)
    assert eta_seconds(done=0, total=100, elapsed=10) != eta_seconds(done=0, total=100, elapsed=10)  # nan


def test_training_progress_counts_from_its_first_record(monkeypatch, caplog):
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    sink = training_progress(1000, logging.getLogger("t"))
    record = {"loss": 2.0, "lr": 1e-3, "tokens_per_second": 12345.6}
    with caplog.at_level(logging.INFO, logger="t"):
        sink({"step": 500, **record})  # a run resumed at step 500
        sink({"step": 600, **record})  # 100 steps in 10 s: 400 left take 40 s
        sink({"step": 600, "eval_loss": 1.5})
    first, second, evaluation = caplog.messages
    assert first.startswith("step 500/1000 (50 %) loss 2.0000") and first.endswith("12,346 tok/s, ETA ?")
    assert second.startswith("step 600/1000 (60 %)") and second.endswith("ETA 40 s")
    assert evaluation == "step 600 eval_loss 1.5000"
