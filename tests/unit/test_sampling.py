"""Token sampling: greedy, top-k and top-p never pick excluded tokens; equal-length prompt batches."""

import torch

from cola_core.sampling import length_groups, sample_logits


def test_greedy_is_argmax():
    logits = torch.randn(4, 7, 50)
    assert torch.equal(sample_logits(logits), logits.argmax(-1))


def test_top_k_and_top_p_stay_in_their_sets():
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[5.0, 4.0, 3.0, -1.0, -2.0, -3.0]]).repeat(2000, 1)
    k = sample_logits(logits, temperature=1.0, top_k=2, generator=gen)
    assert set(k.tolist()) == {0, 1}
    probs = logits[0].softmax(-1)
    # the smallest prefix whose mass reaches 0.9
    p = sample_logits(logits, temperature=1.0, top_p=0.9, generator=gen)
    cum = probs.cumsum(-1)
    allowed = set(range(int((cum < 0.9).sum()) + 1))
    assert set(p.tolist()) <= allowed and len(set(p.tolist())) > 1


def test_temperature_sampling_is_seeded():
    logits = torch.randn(3, 100)
    a = sample_logits(logits, 1.0, generator=torch.Generator().manual_seed(7))
    b = sample_logits(logits, 1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_length_groups_batch_equal_lengths_in_order():
    prompts = [[1, 2], [3], [], [4, 5], [6], [7, 8], [9, 9], [], [1, 1]]
    groups = length_groups(prompts, batch_size=3)
    assert groups == [[0, 3, 5], [6, 8], [1, 4], [2, 7]]  # first appearance of each length, then split
    assert sorted(i for g in groups for i in g) == list(range(len(prompts)))
    assert all(len({len(prompts[i]) for i in g}) == 1 for g in groups)
    assert length_groups(prompts, batch_size=1) == [[i] for i in (0, 3, 5, 6, 8, 1, 4, 2, 7)]
    assert length_groups([], batch_size=8) == []
