"""An `lm-eval` model for any finished run, so standard benchmarks run with the paper's generative protocol.

    python -m jobs.lm_eval --run runs/ar-small --tasks lambada_openai --limit 100     (needs network for HF data)
    python -m jobs.lm_eval --run RUN --tasks my_task --include-path my_tasks/        (local task YAMLs)

`generate_until` works for every family (the sampler with the run's settings, cut at the request's
stop strings). `loglikelihood` is exact for AR, a Monte Carlo upper bound for LLaDA, and refused
for Cola: its prior is a continuous flow, and its authors evaluate it generatively.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from cola_core.eval.generate import make_generate_fn
from cola_platform.training.export import load_run

log = logging.getLogger(__name__)


@register_model("cola-platform")
class PlatformLM(LM):
    """lm-eval model over a run directory (`--model_args run=PATH,mc_num=32`)."""

    def __init__(self, run: str, mc_num: int = 32, **_: Any):
        super().__init__()
        self.loaded = load_run(run)
        self.tokenizer = self.loaded.tokenizer
        self.mc_num = int(mc_num)
        self._generate = make_generate_fn(self.loaded.spec, self.loaded.model, self.loaded.cfg, self.tokenizer)

    @property
    def family(self) -> str:
        return self.loaded.cfg.run.family

    def generate_until(self, requests: list[Any]) -> list[str]:
        """Greedy continuation per request, cut at the first stop string (`until`)."""
        outs = []
        for req in requests:
            context, kwargs = req.args
            max_new = int(kwargs.get("max_gen_toks", 32))
            text = self._generate([context], max_new)[0]
            for stop in kwargs.get("until", []) or []:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            outs.append(text)
        return outs

    @torch.no_grad()
    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        """log p(continuation | context): exact for AR, MC bound for LLaDA; Cola raises."""
        if self.family == "cola":
            raise NotImplementedError("Cola has no tractable token log-likelihood; use generative tasks "
                                      "(output_type: generate_until), as the paper does")
        return [self._score(*req.args) for req in requests]

    def loglikelihood_rolling(self, requests: list[Any]) -> list[float]:
        """Whole-text log-likelihood (perplexity tasks), same support as `loglikelihood`."""
        return [ll for ll, _ in self.loglikelihood([_Req(("", req.args[0])) for req in requests])]

    def _score(self, context: str, continuation: str) -> tuple[float, bool]:
        ctx = self.tokenizer.encode(context) or [self.loaded.cfg.model.eos_id]
        cont = self.tokenizer.encode(continuation)
        limit = self.loaded.cfg.data.seq_len
        ids = (ctx + cont)[-limit:]
        n = min(len(cont), len(ids) - 1)
        seq = torch.tensor(ids)
        if self.family == "ar":
            logits = self.loaded.model(seq[None, :-1])[0]  # (T-1, V)
            logp = F.log_softmax(logits[-n:].float(), dim=-1)
            target = seq[-n:]
            total = logp.gather(-1, target[:, None]).sum().item()
            return total, bool((logp.argmax(-1) == target).all())
        from cola_core.families.llada.likelihood import mc_nll_bound

        bound = mc_nll_bound(self.loaded.model, seq, self.loaded.cfg.model.mask_id, mc_num=self.mc_num,
                             batch_size=min(16, self.mc_num), prompt_len=len(ids) - n)
        return -bound * n, False


class _Req:
    def __init__(self, args: tuple):
        self.args = args
