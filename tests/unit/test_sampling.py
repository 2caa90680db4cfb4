"""Token sampling: greedy, top-k and top-p never pick excluded tokens."""

import torch

from cola_core.sampling import sample_logits


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
