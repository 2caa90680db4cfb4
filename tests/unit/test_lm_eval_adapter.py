"""The lm-eval adapter on tiny in-process models (random weights): rolling log-likelihood over a whole
document checked against per-token log-probs computed by hand, batched == unbatched scoring, gen_kwargs
honoured, and families without a token log-likelihood refused."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from cola_core.config import Config, apply_overrides
from cola_core.data.storyworld import generate_story
from cola_core.eval.generate import make_generate_fn
from cola_core.registry import get_family
from cola_platform.errors import UserError
from cola_platform.lm_eval_adapter import PlatformLM, cut_at_stops
from token_model_helpers import story_tokenizer, tiny_token_model

SEQ_LEN = 16


class Req:
    """What lm-eval hands a model: an object with `.args`."""

    def __init__(self, *args):
        self.args = args


@pytest.fixture(scope="module")
def tok():
    return story_tokenizer()


def build(tok, family: str, **over):
    return tiny_token_model(tok, family, SEQ_LEN, **over)


@pytest.fixture
def ar(tok):
    cfg, model = build(tok, "ar")
    return PlatformLM.from_parts(cfg, model, tok, batch_size=8)


def with_spy(lm: PlatformLM) -> list[int]:
    """Wrap the family's scorer; the returned list receives the batch size of every scoring call."""
    calls: list[int] = []
    inner = lm.loaded.spec.score_tokens

    def spy(model, cfg, tokens, n_targets, mc_num):
        calls.append(tokens.shape[0])
        return inner(model, cfg, tokens, n_targets, mc_num)

    lm.loaded = dataclasses.replace(lm.loaded, spec=dataclasses.replace(lm.loaded.spec, score_tokens=spy))
    return calls


@torch.no_grad()
def rolling_by_hand(model, tokens: list[int], eos: int, max_seq_len: int) -> float:
    """Every token scored once, in chunks of max_seq_len targets; a chunk ending at e sees the (at most)
    max_seq_len tokens before its last target, [eos] + tokens as the stream. One window per forward."""
    stream = [eos] + tokens  # stream[j + 1] == tokens[j]
    total = 0.0
    for start in range(0, len(tokens), max_seq_len):
        end = min(start + max_seq_len, len(tokens))
        first = max(0, end - max_seq_len)
        inputs = torch.tensor(stream[first:end])[None]  # (1, W)
        logp = F.log_softmax(model(inputs)[0].float(), dim=-1)  # (W, V): input j predicts stream[first + j + 1]
        for t in range(start, end):
            total += logp[t - first, tokens[t]].item()
    return total


def test_rolling_loglikelihood_covers_the_whole_document_in_windows(ar, tok):
    doc = " ".join(generate_story(i).text for i in range(100, 103))
    tokens = tok.encode(doc)
    assert len(tokens) > 5 * SEQ_LEN  # several windows
    calls = with_spy(ar)
    got, short = ar.loglikelihood_rolling([Req(doc), Req("Once upon a time")])
    expected = rolling_by_hand(ar.loaded.model, tokens, tok.eos_id, SEQ_LEN - 1)
    assert math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-3), (got, expected)
    assert math.isclose(
        short,
        rolling_by_hand(ar.loaded.model, tok.encode("Once upon a time"), tok.eos_id, SEQ_LEN - 1),
        rel_tol=1e-5,
        abs_tol=1e-3,
    )
    windows = math.ceil(len(tokens) / (SEQ_LEN - 1)) + 1
    assert sum(calls) == windows and len(calls) < windows  # full-length windows share a call
    # the old rolling likelihood was this one, truncated to the last seq_len - 1 tokens
    ((last_only, _),) = ar.loglikelihood([Req("", doc)])
    assert got < last_only - len(tokens)


def test_batched_loglikelihood_equals_unbatched(ar, tok):
    contexts = [
        "Once upon a time, there was",
        "The cat sat on the",
        "A little girl named Mia",
        "One day, the dog",
        "The sun was shining and",
        "She looked at the big tree",
    ]
    conts = [" a", " mat and looked around", " liked to play", " ran away", " the birds sang", " and smiled"]
    requests = [Req(c, x) for c in contexts for x in conts[:3]] + [Req("", "Once upon a time")]
    calls = with_spy(ar)
    batched = ar.loglikelihood(requests)
    assert sum(calls) == len(requests) and len(calls) < len(requests)  # equal lengths really shared a call
    del calls[:]
    single = PlatformLM(ar.loaded, batch_size=1).loglikelihood(requests)
    assert calls == [1] * len(requests)
    for (a, ga), (b, gb) in zip(batched, single):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-4) and ga == gb
    assert len({round(ll, 3) for ll, _ in batched}) > len(requests) // 2  # not one value for everything
    assert all(ll < 0 for ll, _ in batched)


def test_gen_kwargs_until_and_max_gen_toks_are_honoured(ar, tok):
    cfg, model = ar.loaded.cfg, ar.loaded.model
    greedy = make_generate_fn(ar.loaded.spec, model, cfg, tok)
    prompts = ["Once upon a time", "The cat sat on the", "One day"]
    full = greedy(prompts, 12)
    assert ar.generate_until([Req(p, {"max_gen_toks": 12}) for p in prompts]) == full
    assert ar.generate_until([Req(p, {"max_gen_toks": 3}) for p in prompts]) == greedy(prompts, 3)
    stops = [text[len(text) // 2 : len(text) // 2 + 2] for text in full]
    outs = ar.generate_until(
        [Req(p, {"max_gen_toks": 12, "until": [s, "\u2603never"]}) for p, s in zip(prompts, stops)]
    )
    for out, text, stop in zip(outs, full, stops):
        assert text.startswith(out) and stop not in out and text[len(out) :].startswith(stop)
        assert len(out) <= len(text) // 2
    (single,) = ar.generate_until([Req(prompts[0], {"max_gen_toks": 12, "until": stops[0]})])  # a bare string
    assert single == outs[0]


def test_gen_kwargs_temperature_and_do_sample(ar, tok):
    prompts = ["Once upon a time"] * 2 + ["One day"] * 2
    greedy = ar.generate_until([Req(p, {"max_gen_toks": 10, "do_sample": False}) for p in prompts])
    sampled = ar.generate_until([Req(p, {"max_gen_toks": 10, "do_sample": True, "temperature": 1.5}) for p in prompts])
    assert greedy[0] == greedy[1] and sampled != greedy and sampled[0] != sampled[1]
    mixed = ar.generate_until(
        [
            Req(prompts[0], {"max_gen_toks": 10, "temperature": 1.5}),
            Req(prompts[0], {"max_gen_toks": 10, "do_sample": False, "temperature": 1.5}),
        ]
    )
    assert mixed[1] == greedy[0]  # do_sample false wins over a temperature, and the order of requests is kept
    hot = PlatformLM(
        dataclasses.replace(
            ar.loaded, cfg=apply_overrides(Config.from_dict(ar.loaded.cfg.to_dict()), {"sampler.temperature": 1.5})
        )
    )
    assert hot.generate_until([Req(p, {"max_gen_toks": 10, "do_sample": False}) for p in prompts]) == greedy


def test_cut_at_stops_takes_the_earliest_stop():
    assert cut_at_stops("a. b\nc", ["\n", "."]) == "a"
    assert cut_at_stops("abc", ["", "x"]) == "abc"


def test_llada_loglikelihood_uses_its_bound(tok):
    cfg, model = build(tok, "llada")
    lm = PlatformLM.from_parts(cfg, model, tok, mc_num=8)
    torch.manual_seed(1)
    results = lm.loglikelihood([Req("Once upon a time", " there was"), Req("The cat", " sat")])
    assert all(ll < 0 and greedy is False for ll, greedy in results)
    assert lm.loglikelihood_rolling([Req("")]) == [0.0]


def test_family_without_token_likelihood_is_refused(ar):
    assert get_family("cola").score_tokens is None
    assert get_family("ar").score_tokens is not None and get_family("llada").score_tokens is not None
    cola = PlatformLM(dataclasses.replace(ar.loaded, spec=get_family("cola")))
    for call in (lambda: cola.loglikelihood([Req("a", " b")]), lambda: cola.loglikelihood_rolling([Req("a b")])):
        with pytest.raises(UserError, match="family 'cola' has no token log-likelihood") as err:
            call()
        assert "\n" not in str(err.value)
