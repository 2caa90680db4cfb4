"""Fixtures of the distributed-training tests: a tiny prepared data set and a warm DeepSpeed.

`train_data` is prepared once per session from the seeded synthetic corpus of
`cola_platform.data.synthetic` (no storyworld needed);
`deepspeed_warm` builds DeepSpeed's shared-memory comm op once (a JIT gcc build, tens of seconds on
a fresh machine, cached in ~/.cache/torch_extensions), so Ray Train workers only load it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from cola_platform.data.manifest import Manifest
from cola_platform.data.synthetic import prepare_synthetic


@dataclass(frozen=True)
class TrainData:
    """A prepared data directory: 32-token sequences, ~1000 train and ~100 validation rows, 11 train shards."""

    path: str
    manifest: Manifest


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> TrainData:
    """The session's tiny training data set."""
    out = tmp_path_factory.mktemp("train-data") / "synthetic"
    return TrainData(str(out), prepare_synthetic(str(out)))


@pytest.fixture(scope="session")
def deepspeed_warm() -> None:
    """Build (or load from the torch extensions cache) DeepSpeed's CPU comm op once per session."""
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    from deepspeed.accelerator import get_accelerator

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is not None:
        builder.load()
