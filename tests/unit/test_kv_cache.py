"""KVCache: a growing preallocated buffer; uncommitted writes leave no trace."""

from __future__ import annotations

import pytest
import torch

from cola_core.nn.attention import KVCache


def test_cache_grows_keeps_committed_and_overwrites_uncommitted() -> None:
    torch.manual_seed(0)
    cache, keys = KVCache(), []
    for step in range(50):  # 100 committed positions: the 64-position buffer has to grow
        k, v = torch.randn(2, 2, 3, 4), torch.randn(2, 2, 3, 4)
        scratch = torch.randn(2, 2, 5, 4)
        k_all, _ = cache.attend(scratch, scratch, commit=0)  # a pass that stores nothing
        assert k_all.shape[2] == 2 * step + 5 and torch.equal(k_all[:, :, -5:], scratch)
        k_all, v_all = cache.attend(k, v, commit=2)  # keep the first two of three
        keys.append(k[:, :, :2])
        assert torch.equal(k_all[:, :, -3:], k) and torch.equal(v_all[:, :, -3:], v)
        assert cache.length == 2 * (step + 1)
        assert torch.equal(k_all[:, :, : cache.length], torch.cat(keys, dim=2))
    assert cache.k is not None and cache.k.shape[2] >= 101


def test_cache_rejects_a_different_batch_and_a_bad_commit() -> None:
    cache = KVCache()
    cache.attend(torch.zeros(2, 1, 3, 4), torch.zeros(2, 1, 3, 4), commit=3)
    with pytest.raises(ValueError, match="batch"):
        cache.attend(torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 1, 4), commit=1)
    with pytest.raises(ValueError, match="commit"):
        cache.attend(torch.zeros(2, 1, 1, 4), torch.zeros(2, 1, 1, 4), commit=2)
