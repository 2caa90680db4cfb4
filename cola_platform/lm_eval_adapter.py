"""An `lm-eval` model for any finished run, so standard benchmarks run with the paper's generative protocol.

    python -m jobs.lm_eval --run runs/ar-small --tasks lambada_openai --limit 100     (needs network for HF data)
    python -m jobs.lm_eval --run RUN --tasks my_task --include-path my_tasks/        (local task YAMLs)

`generate_until` works for every family: the family's sampler with the run's settings, overridden by
the request's `gen_kwargs` (`max_gen_toks`, `temperature` / `do_sample`, `top_k`, `top_p`), the text
cut before the first `until` string. Requests with the same settings go to the sampler together, which
decodes equal-length prompts as one batch.

`loglikelihood` and `loglikelihood_rolling` use the family's `score_tokens` hook (`FamilySpec`): exact
for AR, the Monte Carlo bound for LLaDA. Rows of equal length share one scoring call (one forward for
AR). A row holds at most `data.seq_len` tokens; a long context is left-truncated. Rolling likelihoods
cover the whole document in lm-eval's own disjoint windows (`get_rolling_token_windows`, context 1):
each window predicts up to `seq_len - 1` tokens, conditioned on every earlier token of its window.
A family without the hook (Cola: its ELBO estimator scores a whole sequence, not a continuation given
a context, and the paper evaluates Cola generatively) gets a one-line error.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import normalize_gen_kwargs
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from cola_core.config import Config
from cola_core.data.tokenizer import TextTokenizer
from cola_core.eval.harness import GenerateFn
from cola_core.eval.generate import make_generate_fn
from cola_core.registry import TokenScorer, get_family
from cola_core.sampling import length_groups
from cola_platform.errors import UserError
from cola_platform.training.export import LoadedRun, load_run
from cola_platform.training.run_dir import RunDir

log = logging.getLogger(__name__)

SAMPLER_KWARGS = ("temperature", "top_k", "top_p")
"""`gen_kwargs` keys that override the run's `sampler.*` settings of the same name."""
_KNOWN_KWARGS = {
    "until",
    "do_sample",
    "max_gen_toks",
    "max_new_tokens",
    "max_tokens",
    "max_completion_tokens",
    *SAMPLER_KWARGS,
}

Window = tuple[Any, list[int], list[int]]
"""(cache key or None, context ids, continuation ids): what `_loglikelihood_tokens` scores."""


def cut_at_stops(text: str, until: list[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any non-empty stop string."""
    return text[: min((text.index(s) for s in until if s and s in text), default=len(text))]


def rolling_windows(tokens: list[int], prefix_token: int, max_seq_len: int) -> list[tuple[list[int], list[int]]]:
    """The whole document as disjoint (context, targets) windows, lm-eval's rolling scheme with context 1:
    every token is a target exactly once; a window's context + targets is at most max_seq_len + 1 tokens."""
    windows = get_rolling_token_windows(
        token_list=tokens, prefix_token=prefix_token, max_seq_len=max_seq_len, context_len=1
    )
    return [make_disjoint_window(w) for w in windows]


def _batch_size(value: Any) -> int:
    """lm-eval passes `batch_size` as an int, a digit string, None or "auto"; the last two mean 16."""
    return int(value) if str(value).isdigit() and int(value) > 0 else 16


@register_model("cola-platform")
class PlatformLM(TemplateLM):
    """lm-eval model over a run directory (`--model_args run=PATH,mc_num=32`) or an in-memory `LoadedRun`."""

    def __init__(self, run: str | Path | LoadedRun, mc_num: int = 32, batch_size: Any = 16, **_: Any):
        super().__init__()
        self.loaded = run if isinstance(run, LoadedRun) else load_run(run)
        self.tokenizer = self.loaded.tokenizer
        self.mc_num = int(mc_num)
        self.batch_size = _batch_size(batch_size)
        self._generators: dict[tuple[tuple[str, Any], ...], GenerateFn] = {}
        self._warned: set[tuple[str, ...]] = set()

    @classmethod
    def from_parts(cls, cfg: Config, model: torch.nn.Module, tokenizer: TextTokenizer, **kwargs: Any) -> PlatformLM:
        """An adapter over a model built in-process (tests, notebooks): the family comes from `cfg.run.family`."""
        loaded = LoadedRun(cfg, get_family(cfg.run.family), model.eval(), tokenizer, RunDir(Path(".")))
        return cls(loaded, **kwargs)

    @property
    def family(self) -> str:
        """The run's model family."""
        return self.loaded.cfg.run.family

    @property
    def max_length(self) -> int:
        """Most tokens in one scored row: the trained sequence length."""
        return self.loaded.cfg.data.seq_len

    @property
    def eot_token_id(self) -> int:
        """EOS: it starts a document, so it conditions an empty context and each document's first window."""
        return self.tokenizer.eos_id

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **_: Any) -> list[int]:
        """Token ids of `string` (the tokenizer adds no special tokens)."""
        return self.tokenizer.encode(string)

    # -- log-likelihood ---------------------------------------------------------------------------------

    def _scorer(self) -> TokenScorer:
        scorer = self.loaded.spec.score_tokens
        if scorer is None:
            raise UserError(
                f"family {self.loaded.spec.name!r} has no token log-likelihood, so lm-eval loglikelihood / "
                "loglikelihood_rolling / multiple_choice requests are refused: use generate_until tasks"
            )
        return scorer

    @torch.no_grad()
    def _loglikelihood_tokens(
        self, requests: list[Window], disable_tqdm: bool = False, **_: Any
    ) -> list[tuple[float, bool]]:
        """(log p(continuation | context), greedy) per (key, context ids, continuation ids); rows of equal
        length are scored together, `batch_size` at most."""
        scorer = self._scorer()
        rows, n_targets = [], []
        for _key, context, continuation in requests:
            ids = (context + continuation)[-self.max_length :]
            rows.append(ids)
            n_targets.append(min(len(continuation), len(ids) - 1))
        results: list[tuple[float, bool]] = [(0.0, True)] * len(requests)  # an empty continuation: log 1
        todo = [i for i, n in enumerate(n_targets) if n > 0]
        for group in length_groups([rows[i] for i in todo], self.batch_size):
            idx = [todo[j] for j in group]
            tokens = torch.tensor([rows[i] for i in idx], dtype=torch.long)  # (B, T)
            scores = scorer(self.loaded.model, self.loaded.cfg, tokens, [n_targets[i] for i in idx], self.mc_num)
            for i, score in zip(idx, scores):
                results[i] = score
        for (key, _context, _continuation), score in zip(requests, results):
            if key is not None:
                self.cache_hook.add_partial("loglikelihood", key, score)
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Whole-document log-likelihood (perplexity tasks): the sum over `rolling_windows` of the document,
        every window of every request scored in one batched pass."""
        self._scorer()
        windows: list[Window] = []
        owner: list[int] = []
        for k, req in enumerate(requests):
            for context, targets in rolling_windows(
                self.tok_encode(req.args[0]), self.prefix_token_id, self.max_length - 1
            ):
                windows.append((None, context, targets))
                owner.append(k)
        totals = [0.0] * len(requests)
        for k, (ll, _) in zip(owner, self._loglikelihood_tokens(windows)):
            totals[k] += ll
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    # -- generation -------------------------------------------------------------------------------------

    def _settings(self, gen_kwargs: dict[str, Any]) -> tuple[int, tuple[tuple[str, Any], ...], list[str]]:
        """(max_gen_toks, sampler overrides, until) of one request's `gen_kwargs`.

        Without `temperature` and `do_sample` the run's own sampling settings apply; `do_sample: false`
        means greedy; `do_sample: true` without a temperature means temperature 1."""
        gen_kwargs = dict(gen_kwargs or {})
        if gen_kwargs.get("do_sample") is True:
            gen_kwargs.setdefault("temperature", 1.0)
        kwargs = normalize_gen_kwargs(gen_kwargs, self.loaded.cfg.sampler.max_new_tokens)
        overrides = {k: kwargs[k] for k in SAMPLER_KWARGS if k in kwargs}
        ignored = tuple(sorted(set(gen_kwargs) - _KNOWN_KWARGS))
        if ignored and ignored not in self._warned:
            self._warned.add(ignored)
            log.warning("gen_kwargs %s are not used by this model", ", ".join(ignored))
        until = [s for s in kwargs["until"] if isinstance(s, str) and s]
        return int(kwargs["max_gen_toks"]), tuple(sorted(overrides.items())), until

    def _generator(self, overrides: tuple[tuple[str, Any], ...]) -> GenerateFn:
        if overrides not in self._generators:
            cfg = self.loaded.cfg
            sampler = dataclasses.replace(cfg.sampler, **{k: type(getattr(cfg.sampler, k))(v) for k, v in overrides})
            self._generators[overrides] = make_generate_fn(
                self.loaded.spec, self.loaded.model, dataclasses.replace(cfg, sampler=sampler), self.tokenizer
            )
        return self._generators[overrides]

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """One continuation per (context, gen_kwargs) request, in request order; requests with the same
        settings are generated in one sampler call (equal-length prompts share a batch)."""
        settings = [self._settings(req.args[1]) for req in requests]
        groups: dict[tuple[int, tuple[tuple[str, Any], ...]], list[int]] = {}
        for i, (max_new, overrides, _) in enumerate(settings):
            groups.setdefault((max_new, overrides), []).append(i)
        outs = [""] * len(requests)
        for (max_new, overrides), idx in groups.items():
            texts = self._generator(overrides)([requests[i].args[0] for i in idx], max_new)
            for i, text in zip(idx, texts):
                outs[i] = cut_at_stops(text, settings[i][2])
                self.cache_hook.add_partial("generate_until", requests[i].args, outs[i])
        return outs
