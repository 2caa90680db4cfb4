"""Text-in, text-out generation: prompts share one seeded random stream; greedy is deterministic."""

import torch

from cola_core.config import Config, apply_overrides
from cola_core.data.storyworld import generate_story
from cola_core.data.tokenizer import train_bpe
from cola_core.eval.generate import make_generate_fn
from cola_core.registry import get_family


def setup(temperature: float):
    tok = train_bpe((generate_story(i).text for i in range(60)), vocab_size=300)
    cfg = apply_overrides(
        Config(),
        {
            "model.vocab_size": tok.vocab_size,
            "model.dim": 32,
            "model.n_heads": 4,
            "model.n_layers": 2,
            "data.seq_len": 48,
            "sampler.temperature": temperature,
        },
    )
    cfg.run.family = "ar"
    spec = get_family("ar")
    torch.manual_seed(0)
    return make_generate_fn(spec, spec.build_model(cfg).eval(), cfg, tok)


def test_sampling_gives_different_unconditional_samples_reproducibly():
    generate = setup(temperature=1.0)
    first = generate(["", "", ""], 12)
    assert len(set(first)) == 3  # one random stream across the call, not one reset per prompt
    assert generate(["", "", ""], 12) == first  # seeded: the same call gives the same samples


def test_greedy_samples_are_identical_and_trailing_space_is_stripped():
    generate = setup(temperature=0.0)
    a, b = generate(["", ""], 12)
    assert a == b
    assert generate(["Once upon a time "], 8) == generate(["Once upon a time"], 8)
