"""In-process batch stream over an in-memory (rows, seq_len) array: seeded epochs, exact resume.

Used by `--workers 0` training and by unit tests; Ray Train workers stream shards through Ray Data.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch


class ArrayBatchStream:
    """Endless micro-batches; each epoch is a seeded permutation, rank r takes every world-th batch."""

    def __init__(
        self,
        sequences: np.ndarray,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ):
        if len(sequences) < batch_size * world_size:
            raise ValueError(
                f"only {len(sequences)} sequences for a global micro-batch of {batch_size * world_size}; prepare more data"
            )
        self.sequences, self.batch_size, self.seed, self.shuffle = sequences, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.cursor = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        n = len(self.sequences)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def next_batch(self) -> torch.Tensor:
        """The next (batch_size, seq_len) LongTensor of this rank."""
        global_batch = self.batch_size * self.world_size
        if self.cursor + global_batch > len(self._order):
            self.epoch, self.cursor = self.epoch + 1, 0
            self._order = self._permutation()
        start = self.cursor + self.rank * self.batch_size
        idx = self._order[start : start + self.batch_size]
        self.cursor += global_batch
        return torch.from_numpy(self.sequences[idx].astype(np.int64))

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._order = self._permutation()


def fixed_batches(sequences: np.ndarray, batch_size: int, num_batches: int) -> Iterator[torch.Tensor]:
    """The first `num_batches` micro-batches in order (held-out evaluation)."""
    for i in range(min(num_batches, max(1, len(sequences) // batch_size))):
        yield torch.from_numpy(sequences[i * batch_size : (i + 1) * batch_size].astype(np.int64))
