"""The tracker a run gets when MLflow is off or down answers every call the MLflow tracker does, doing nothing."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from cola_core.config import Config
from cola_platform.tracking.mlflow_tracker import MlflowTracker, NullTracker, Tracker, open_tracker


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    """Public instance methods and their signatures (classmethods such as `attach` construct, they are not calls on a tracker)."""
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_null_tracker_has_every_public_method_of_the_mlflow_tracker() -> None:
    assert public_methods(NullTracker) == public_methods(MlflowTracker) == public_methods(Tracker)
    assert "attach" not in public_methods(MlflowTracker)


def test_null_tracker_does_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = open_tracker(Config(), tmp_path)  # no tracking URI: tracking is off
    assert isinstance(tracker, NullTracker) and not tracker.enabled and tracker.info is None
    tracker.load_logged_steps()
    tracker.log_params_and_tags(Config(), {"k": "v"})
    tracker.log_record({"step": 1, "loss": 1.0})
    tracker.log_artifacts([("", tmp_path / "x")])
    tracker.finish({"steps": 1}, tmp_path)
    tracker.end("FINISHED")
    assert list(tmp_path.iterdir()) == []


def test_credentials_in_the_tracking_uri_move_to_mlflows_basic_auth_variables(monkeypatch):
    """MLflow's client prints run URLs built from its URI: the password must not be in it."""
    from cola_platform.tracking.mlflow_tracker import credentials_to_env, mlflow_client

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    assert credentials_to_env("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert credentials_to_env("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"
    client = mlflow_client("http://alice:s%40cret@127.0.0.1:5000/prefix")
    assert client._tracking_client.tracking_uri == "http://127.0.0.1:5000/prefix"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s@cret"
