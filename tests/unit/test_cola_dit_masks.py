"""The 2L block-causal mask, checked through a real DiT forward, and the adaLN-Zero initialisation."""

from __future__ import annotations

import random

import torch

from cola_core.families.cola.dit import BlockCausalDiT, DiTBlock
from cola_core.families.cola.masks import prefix_mask, two_l_mask
from test_cola_helpers import randomize_adaln, tiny_cfg


def _changed_blocks(base: torch.Tensor, new: torch.Tensor, n_blocks: int, bs: int) -> list[bool]:
    diff = (base - new).abs().amax(dim=-1)[0]  # (n,)
    return [bool(diff[b * bs : (b + 1) * bs].max() > 1e-9) for b in range(n_blocks)]


def test_mask_tensor_matches_rules() -> None:
    n, bs = 6, 2
    mask = two_l_mask(n, bs)
    blk = [i // bs for i in range(n)]
    for i in range(2 * n):
        for j in range(2 * n):
            qn, kn = i >= n, j >= n
            bq, bk = blk[i % n], blk[j % n]
            want = (bk <= bq) if not qn and not kn else False if not qn else (bk < bq) if not kn else (bk == bq)
            assert bool(mask[i, j]) == want, (i, j)


def test_noisy_query_sees_exactly_clean_earlier_blocks_and_own_noisy_block() -> None:
    rng = random.Random(0)
    torch.manual_seed(0)
    for _ in range(4):
        bs, n_blocks = rng.choice([1, 2, 3, 4]), rng.choice([2, 3, 4])
        n = bs * n_blocks
        cfg = tiny_cfg(block_size=bs)
        dit = BlockCausalDiT(cfg.model).double()
        randomize_adaln(dit)
        x = torch.randn(1, 2 * n, cfg.model.latent_dim, dtype=torch.float64)
        t = torch.cat([torch.zeros(1, n), torch.rand(1, n)], dim=1).double()
        positions = torch.cat([torch.arange(n), torch.arange(n)])
        mask = two_l_mask(n, bs)
        base = dit(x, t, positions, mask)
        for c in range(n_blocks):
            for half in ("clean", "noisy"):
                x2 = x.clone()
                start = (0 if half == "clean" else n) + c * bs
                x2[:, start : start + bs] += 1.0
                out = dit(x2, t, positions, mask)
                noisy = _changed_blocks(base[:, n:], out[:, n:], n_blocks, bs)
                clean = _changed_blocks(base[:, :n], out[:, :n], n_blocks, bs)
                if half == "clean":
                    assert noisy == [b > c for b in range(n_blocks)], (bs, n_blocks, c, noisy)
                    assert clean == [b >= c for b in range(n_blocks)]
                else:
                    assert noisy == [b == c for b in range(n_blocks)], (bs, n_blocks, c, noisy)
                    assert clean == [False] * n_blocks


def test_fresh_dit_block_is_identity() -> None:
    torch.manual_seed(0)
    block = DiTBlock(32, 2, 64, 10000.0)
    x, c = torch.randn(2, 5, 32), torch.randn(2, 5, 32)
    out = block(x, c, torch.arange(5), None)
    assert torch.equal(out, x)
    randomize_adaln(torch.nn.ModuleDict({"b": block}))
    assert not torch.allclose(block(x, c, torch.arange(5), None), x)


def test_dit_kv_cache_matches_full_forward_and_partial_commit() -> None:
    torch.manual_seed(0)
    cfg = tiny_cfg(block_size=2)
    dit = BlockCausalDiT(cfg.model).eval()
    randomize_adaln(dit)
    ctx, prev, cur = torch.randn(1, 4, 8), torch.randn(1, 2, 8), torch.randn(1, 2, 8)
    t_cur = torch.full((1, 2), 0.7)
    caches = dit.new_cache()
    dit(ctx, torch.zeros(1, 4), torch.arange(4), prefix_mask(4, 2), caches, commit=4)
    full = dit(
        torch.cat([ctx, prev, cur], 1), torch.cat([torch.zeros(1, 6), t_cur], 1), torch.arange(8), prefix_mask(8, 2)
    )
    # [prev (t = 0) | cur] in one pass, committing only prev: cur sees cache + prev + itself.
    both = dit(
        torch.cat([prev, cur], 1),
        torch.cat([torch.zeros(1, 2), t_cur], 1),
        torch.arange(4, 8),
        prefix_mask(8, 2)[4:],
        caches,
        commit=2,
    )
    assert caches[0].length == 6
    assert torch.allclose(both, full[:, 4:], atol=1e-5)
    again = dit(cur, t_cur, torch.arange(6, 8), None, caches)  # the uncommitted block left no trace
    assert torch.allclose(again, full[:, 6:], atol=1e-5)
    alone = dit(cur, t_cur, torch.arange(6, 8), None)
    hidden = torch.arange(8)[None, :] >= 6  # (2, 8): a mask that hides the cache = no context
    assert torch.allclose(dit(cur, t_cur, torch.arange(6, 8), hidden.expand(2, 8), caches), alone, atol=1e-5)
    assert not torch.allclose(again, alone, atol=1e-4)
