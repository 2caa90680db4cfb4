"""Packing tokenized documents, each followed by EOS, into fixed-length training sequences."""

from __future__ import annotations

from typing import Iterable, Iterator


class SequencePacker:
    """Streaming packer: feed documents, collect full `seq_len` sequences; the tail carries over."""

    def __init__(self, seq_len: int, eos_id: int):
        self.seq_len, self.eos_id = seq_len, eos_id
        self._buffer: list[int] = []

    def add(self, ids: list[int]) -> list[list[int]]:
        """Append one document (+ EOS) and return the sequences it completed."""
        self._buffer.extend(ids)
        self._buffer.append(self.eos_id)
        n_full = len(self._buffer) // self.seq_len
        out = [self._buffer[i * self.seq_len : (i + 1) * self.seq_len] for i in range(n_full)]
        self._buffer = self._buffer[n_full * self.seq_len :]
        return out

    @property
    def leftover(self) -> int:
        """Tokens waiting for the next sequence (dropped if the stream ends)."""
        return len(self._buffer)


def pack_documents(docs: Iterable[list[int]], seq_len: int, eos_id: int) -> Iterator[list[int]]:
    """Yield packed sequences of exactly `seq_len` ids; a final partial sequence is dropped."""
    packer = SequencePacker(seq_len, eos_id)
    for ids in docs:
        yield from packer.add(ids)
