"""Likelihood-ranked tasks (items of type `ranked`): the choice a model finds most likely is its answer.

No text is generated: each choice is scored as the continuation `" " + choice` of the item's context
with the family's token log-likelihood (`FamilySpec.score_tokens`: exact for AR, the Monte Carlo
bound for LLaDA), summed over the choice's tokens, as lm-eval-harness scores `acc`. The choices of one
item are scored under the same random state, so a Monte Carlo estimator compares them on the same
draws. A family without `score_tokens` (Cola: its likelihood is an ELBO over latents, not a token
score) cannot run these tasks; `cola_platform.evaluation` skips them for it and says so.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
from torch import nn

from cola_core.config import Config
from cola_core.data.tokenizer import TextTokenizer
from cola_core.eval.harness import TaskResult
from cola_core.eval.scoring import accuracy_with_stderr
from cola_core.eval.tasks import TaskItem
from cola_core.registry import FamilySpec

LoglikFn = Callable[[str, list[str], int], list[float]]
"""(context, continuations, seed) -> log p(continuation | context) in nats, one per continuation."""


def make_loglik_fn(
    spec: FamilySpec, model: nn.Module, cfg: Config, tokenizer: TextTokenizer, mc_num: int = 32
) -> LoglikFn:
    """Score continuations with the family's `score_tokens`: each row is EOS (a document start), the
    context and the continuation, left-truncated to the trained length; `mc_num` Monte Carlo samples
    where the family estimates (LLaDA)."""
    if spec.score_tokens is None:
        raise ValueError(f"family {spec.name!r} has no token log-likelihood (FamilySpec.score_tokens)")
    scorer = spec.score_tokens
    eos, length = cfg.model.eos_id, cfg.data.seq_len

    @torch.no_grad()
    def loglik(context: str, continuations: list[str], seed: int) -> list[float]:
        head = [eos, *tokenizer.encode(context)] if context else [eos]
        out = []
        for text in continuations:
            cont = tokenizer.encode(" " + text if context else text)[: length - 1]
            row = (head + cont)[-length:]  # (T,) with T <= seq_len; the continuation is always kept whole
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # the same draws for every choice of one item
                out.append(scorer(model, cfg, torch.tensor([row]), [len(cont)], mc_num)[0][0])
        return out

    return loglik


def run_ranked_task(
    name: str, items: list[TaskItem], loglik: LoglikFn, seed: int = 0, keep_examples: int = 3
) -> TaskResult:
    """Accuracy of picking each item's answer as its most likely choice (ties go to the first listed
    choice; builders shuffle the choices, so a model that cannot tell them apart scores chance)."""
    start = time.perf_counter()
    correct: list[bool] = []
    examples: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        scores = loglik(item.context, list(item.choices), seed * 1_000_003 + i)
        best = max(range(len(scores)), key=lambda j: scores[j])
        correct.append(item.choices[best] == item.answer)
        if len(examples) < keep_examples:
            examples.append(
                {
                    "context_tail": item.context[-160:],
                    "choices": list(item.choices),
                    "loglik": [round(s, 3) for s in scores],
                    "answer": item.answer,
                    "correct": correct[-1],
                }
            )
    accuracy, stderr = accuracy_with_stderr(correct)
    return TaskResult(
        task=name,
        n=len(items),
        accuracy=accuracy,
        stderr=stderr,
        k_shot=0,
        seconds=time.perf_counter() - start,
        examples=examples,
        scorer="likelihood-ranked",
        chance=chance_accuracy(items),
    )


def chance_accuracy(items: list[TaskItem]) -> float:
    """What a model that cannot tell the choices apart scores in expectation (mean of 1 / #choices)."""
    return math.fsum(1 / len(item.choices) for item in items) / len(items) if items else float("nan")
