"""Fixtures of the distributed-training tests: a tiny prepared data set and a warm DeepSpeed.

`train_data` is prepared once per session from a seeded synthetic corpus (no storyworld needed);
`deepspeed_warm` builds DeepSpeed's shared-memory comm op once (a JIT gcc build, tens of seconds on
a fresh machine, cached in ~/.cache/torch_extensions), so Ray Train workers only load it.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest

from cola_platform.data.manifest import Manifest

WORDS = ("the a one cat dog bird fox sat ran hid saw ate found under over near big small red blue old new "
         "house tree river hill and then but so because").split()


@dataclass(frozen=True)
class TrainData:
    """A prepared data directory: 32-token sequences, ~640 train and ~70 validation rows, 7 train shards."""

    path: str
    manifest: Manifest


def synthetic_texts(num_docs: int, seed: int = 0) -> list[str]:
    """Seeded word-salad documents with a little structure (repeated phrases), enough for BPE."""
    rng = random.Random(seed)
    docs = []
    for _ in range(num_docs):
        subject = rng.choice(WORDS[:6]) + " " + rng.choice(WORDS[3:9])
        words = [subject] + [rng.choice(WORDS) for _ in range(rng.randint(20, 60))] + [subject, "."]
        docs.append(" ".join(words))
    return docs


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> TrainData:
    """The session's tiny training data set."""
    from cola_platform.data.prepare_local import PrepareSpec, prepare_texts

    out = tmp_path_factory.mktemp("train-data") / "synthetic"
    spec = PrepareSpec(out=str(out), seq_len=32, vocab_size=300, source="synthetic(seed=0)", val_fraction=0.1,
                       shard_rows=100)
    manifest = prepare_texts(spec, synthetic_texts(400))
    return TrainData(str(out), manifest)


@pytest.fixture(scope="session")
def deepspeed_warm() -> None:
    """Build (or load from the torch extensions cache) DeepSpeed's CPU comm op once per session."""
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    from deepspeed.accelerator import get_accelerator

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is not None:
        builder.load()
