"""Which Ray address a hand-started driver uses, and the one-line refusal where ray.init would hang."""

from __future__ import annotations

import pytest

from cola_platform.cluster.connect import LOOPBACK_ENV, ray_driver_address
from cola_platform.errors import UserError


def test_job_drivers_and_sourced_shells_get_the_gcs_address(tmp_path) -> None:
    assert ray_driver_address({"RAY_ADDRESS": "10.0.0.5:6379"}, tmp_path) == "10.0.0.5:6379"
    sourced = {"RAY_ADDRESS": "http://127.0.0.1:8265", "COLA_RAY_GCS_ADDRESS": "127.0.0.1:6379", LOOPBACK_ENV: "0"}
    assert ray_driver_address(sourced, tmp_path) == "127.0.0.1:6379"
    assert ray_driver_address({}, tmp_path) is None  # no cluster recorded: a local instance


def test_a_loopback_cluster_without_its_environment_is_refused_not_hung(tmp_path) -> None:
    with pytest.raises(UserError, match="source .*env"):
        ray_driver_address({"COLA_RAY_GCS_ADDRESS": "127.0.0.1:6379"}, tmp_path)
