"""`ensure_ray`, the one way the platform connects to Ray: which address, which environment, and when it does nothing.

`ray.init` and the local-instance starter are replaced by recorders: no Ray process starts here.
"""

from __future__ import annotations

from typing import Any

import pytest
import ray

from cola_platform.cluster import local_instance
from cola_platform.cluster.connect import LOOPBACK_ENV
from cola_platform.data import ray_env
from cola_platform.data.ray_env import PREEMPTION_WATCHER_ENV, ensure_ray
from cola_platform.errors import UserError
from cola_platform.training import distributed


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, Any, dict[str, Any]]]:
    """Recorded ("init", address, kwargs) / ("local", env_vars, kwargs) calls; no cluster is recorded (the suite's
    COLA_CLUSTER_DIR is an empty directory, tests/conftest.py)."""
    recorded: list[tuple[str, Any, dict[str, Any]]] = []
    for key in ("RAY_ADDRESS", "COLA_RAY_GCS_ADDRESS", LOOPBACK_ENV, PREEMPTION_WATCHER_ENV, *ray_env.FORWARDED_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(ray, "init", lambda address=None, **kw: recorded.append(("init", address, kw)))
    monkeypatch.setattr(local_instance, "start_local_ray", lambda env=None, **kw: recorded.append(("local", env, kw)))
    return recorded


def test_training_and_data_callers_share_one_helper() -> None:
    assert distributed.ensure_ray is ensure_ray
    assert not hasattr(distributed, "FORWARDED_ENV")


def test_auto_starts_a_local_instance_with_the_dashboard_and_the_s3_endpoint(calls, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert ensure_ray() is True
    assert calls == [
        (
            "local",
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", PREEMPTION_WATCHER_ENV: "0"},
            {"include_dashboard": True, "log_to_driver": True},
        )
    ]


def test_a_quiet_local_instance_for_data_jobs(calls) -> None:
    assert ensure_ray("local", dashboard=False, log_to_driver=False) is True
    assert calls == [("local", {PREEMPTION_WATCHER_ENV: "0"}, {"include_dashboard": False, "log_to_driver": False})]


def test_job_drivers_and_explicit_addresses_connect_with_the_forwarded_env(calls, monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")  # what `ray job submit` gives its driver
    ensure_ray()
    ensure_ray("10.0.0.7:6379", log_to_driver=False)
    env = {"runtime_env": {"env_vars": {"AWS_REGION": "eu-west-1"}}}
    assert calls == [
        ("init", "10.0.0.5:6379", {**env, "log_to_driver": True}),
        ("init", "10.0.0.7:6379", {**env, "log_to_driver": False}),
    ]


def test_a_sourced_shell_uses_the_gcs_address_not_the_job_api(calls, monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:8265")
    monkeypatch.setenv("COLA_RAY_GCS_ADDRESS", "127.0.0.1:6379")
    monkeypatch.setenv(LOOPBACK_ENV, "0")
    ensure_ray()
    assert calls == [("init", "127.0.0.1:6379", {"runtime_env": None, "log_to_driver": True})]


def test_a_loopback_cluster_without_its_environment_is_refused(calls, monkeypatch) -> None:
    monkeypatch.setenv("COLA_RAY_GCS_ADDRESS", "127.0.0.1:6379")
    with pytest.raises(UserError, match="source .*env"):
        ensure_ray()
    assert calls == []


def test_a_cluster_that_does_not_answer_is_a_one_line_error(calls, monkeypatch) -> None:
    def refuse(address=None, **kw):
        raise ConnectionError(f"Failed to connect to Ray cluster at {address}")

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(UserError, match=r"cannot connect to the Ray cluster at 10\.0\.0\.9:6379 .*--ray-address local"):
        ensure_ray("10.0.0.9:6379")


def test_an_initialised_ray_is_left_alone(calls, monkeypatch) -> None:
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    assert ensure_ray("local") is False and ensure_ray() is False
    assert calls == []
