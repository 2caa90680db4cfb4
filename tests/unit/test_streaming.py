"""Streaming generation: for every family, the chunks `stream` yields concatenate to what `generate`
returns for the same prompt (greedy and sampled, cut at EOS or at the budget), AR yields a token per
chunk and LLaDA / Cola a block at most; the shared helpers drain and diff steps as documented."""

import pytest
import torch

from cola_core.config import family_keys
from cola_core.families.cola.sampler import ColaSampler
from cola_core.registry import get_family
from cola_core.sampling import drain, new_chunks
from test_cola_helpers import tiny_cfg, tiny_model
from token_model_helpers import story_tokenizer, tiny_token_model

PROMPTS = [[], [5, 9, 11], [7, 7, 7, 7, 7, 7, 7]]


@pytest.fixture(scope="module")
def tok():
    return story_tokenizer()


def steps_of(snapshots: list[list[int]], result: list[int]):
    for snap in snapshots:
        yield lambda snap=snap: [snap]
    return [result]


def test_drain_returns_the_result_and_new_chunks_diffs_the_snapshots():
    assert drain(steps_of([[1], [1, 2]], [1, 2, 3])) == [[1, 2, 3]]
    assert list(new_chunks(steps_of([[1], [1], [1, 2, 4]], [1, 2, 4, 5]))) == [[1], [2, 4], [5]]
    assert list(new_chunks(steps_of([], []))) == []


@pytest.mark.parametrize("family", ["ar", "llada"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_token_families_stream_what_they_generate(tok, family, temperature):
    over = {
        "sampler.temperature": temperature,
        **{k: v for k, v in {"sampler.block_length": 4, "sampler.steps": 8}.items() if k in family_keys(family)},
    }
    cfg, model = tiny_token_model(tok, family, 48, **over)
    sampler = get_family(family).build_sampler(model, cfg)
    for prompt in PROMPTS:
        chunks = list(sampler.stream(prompt, 10))
        assert [t for c in chunks for t in c] == sampler.generate([prompt], 10)[0]
        assert all(1 <= len(c) <= (1 if family == "ar" else 4) for c in chunks)


@pytest.mark.parametrize("use_cache", [True, False])
def test_cola_streams_what_it_generates(use_cache):
    cfg = tiny_cfg()  # block 4, patch 1: a chunk is at most one block of 4 tokens
    cfg.sampler.temperature, cfg.sampler.steps = 1.0, 2
    model = tiny_model(cfg).eval()
    sampler = ColaSampler(model, cfg, use_cache=use_cache)
    for prompt in PROMPTS:
        chunks = list(sampler.stream(prompt, 9))
        assert [t for c in chunks for t in c] == sampler.generate([prompt], 9)[0]
        assert all(1 <= len(c) <= 4 for c in chunks)
    assert len(list(sampler.stream([5, 9], 0))) == 0


def test_an_eos_ends_the_stream(tok):
    cfg, model = tiny_token_model(tok, "ar", 48)
    sampler = get_family("ar").build_sampler(model, cfg)

    def says_eos(module, inputs, logits):  # the output head answers EOS whatever it reads
        forced = torch.zeros_like(logits)
        forced[..., cfg.model.eos_id] = 1.0
        return forced

    model.head.register_forward_hook(says_eos)
    assert list(sampler.stream([5, 9], 10)) == [] == sampler.generate([[5, 9]], 10)[0]


def test_jobs_sample_stream_prints_each_chunk_once_and_whole_characters(capsys):
    from jobs.sample import stream_text

    text = "héllo"
    data = list(text.encode())  # ids are bytes; "é" is two of them and arrives split across chunks
    chunks = iter([data[:2], data[2:4], data[4:]])
    ids = stream_text(chunks, lambda ids: bytes(ids).decode(errors="ignore"), "> ")
    assert ids == data and capsys.readouterr().out == "> héllo\n"
