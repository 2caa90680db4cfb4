"""Monte Carlo NLL upper bound (`get_log_likelihood.py` of ML-GSAI/LLaDA) and the family's eval metrics.

For a target of length L, one MC sample masks exactly n ~ U{1..L} target positions (uniformly
chosen) and scores sum_masked CE * L / n; its expectation is an upper bound on -log p(target | prompt).
A batch of b samples uses stratified counts n_i = k + i * L / b (rounded, wrapped into 1..L) for one
random k, as in the reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.config import Config
from cola_core.families.llada.config import llada_objective_config
from cola_core.families.llada.objective import MaskedDiffusionLoss

EVAL_MC_NUM = 8
"""MC samples per sequence for `nll_bound_per_token` during training-time evaluation."""
EVAL_SEQUENCES = 2
"""Sequences of each eval batch that get the MC bound (it costs EVAL_MC_NUM forwards each)."""


def stratified_mask_counts(target_len: int, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch,) masked-token counts in 1..target_len: round(linspace(k, k + (b-1) L / b)) wrapped, k ~ U{1..L}."""
    k = int(torch.randint(1, target_len + 1, (), generator=generator).item())
    counts = torch.round(torch.linspace(float(k), k + (batch - 1) * (target_len / batch), steps=batch)).long()
    return (counts - 1) % target_len + 1


def _random_masks(counts: torch.Tensor, target_len: int, generator: torch.Generator | None) -> torch.Tensor:
    """(b,) counts -> (b, target_len) bool with exactly counts[i] uniformly placed Trues in row i."""
    scores = torch.rand(counts.shape[0], target_len, generator=generator)  # (b, L)
    ranks = scores.argsort(dim=1).argsort(dim=1)  # a uniform random permutation per row
    return ranks < counts[:, None]


@torch.no_grad()
def mc_nll_bound(
    model: nn.Module,
    seq: torch.Tensor,
    mask_id: int,
    mc_num: int = 128,
    batch_size: int = 16,
    prompt_len: int = 0,
    generator: torch.Generator | None = None,
) -> float:
    """Upper bound on -log p(seq[prompt_len:] | seq[:prompt_len]) in nats per target token.

    seq (T,) ids; `mc_num` samples in batches of `batch_size` (capped at mc_num; mc_num must be a
    multiple of it). The prompt is never masked. Draws come from `generator` (default: torch's RNG).
    """
    batch_size = min(batch_size, mc_num)
    if mc_num <= 0 or mc_num % batch_size:
        raise ValueError(f"mc_num={mc_num} must be a positive multiple of batch_size={batch_size}")
    target_len = seq.shape[0] - prompt_len
    if target_len <= 0:
        raise ValueError(f"nothing to score: sequence length {seq.shape[0]} <= prompt_len {prompt_len}")
    device = next(model.parameters()).device
    seq = seq.to(device)
    batch = seq[None, :].expand(batch_size, -1)  # (b, T)
    estimates = []
    for _ in range(mc_num // batch_size):
        counts = stratified_mask_counts(target_len, batch_size, generator)  # (b,)
        is_mask = _random_masks(counts, target_len, generator).to(device)  # (b, L)
        is_mask = F.pad(is_mask, (prompt_len, 0), value=False)  # (b, T)
        noisy = torch.where(is_mask, torch.full_like(batch, mask_id), batch)
        logits = model(noisy)  # (b, T, V)
        ce = F.cross_entropy(logits[is_mask].float(), batch[is_mask], reduction="none")  # (n_masked,)
        weight = (target_len / counts.to(device).float())[:, None].expand(-1, seq.shape[0])[is_mask]  # (n_masked,)
        estimates.append((ce * weight).sum().item() / batch_size)
    return sum(estimates) / len(estimates) / target_len


@torch.no_grad()
def nll_bound_per_token(model: nn.Module, tokens: torch.Tensor, mask_id: int, mc_num: int = EVAL_MC_NUM) -> float:
    """Mean over the rows of tokens (B, L) of the MC bound of each whole row (no prompt), nats per token."""
    return sum(mc_nll_bound(model, row, mask_id, mc_num, batch_size=mc_num) for row in tokens) / tokens.shape[0]


@torch.no_grad()
def llada_eval_loss(model: nn.Module, tokens: torch.Tensor, cfg: Config) -> dict[str, float]:
    """Held-out metrics: the training objective (no random-length cut) and the MC bound on a few rows.

    Both are upper-bound estimates of the NLL per token (nats). Draws come from the torch RNG, which
    the training loop fixes for every evaluation.
    """
    objective = MaskedDiffusionLoss(cfg.model.mask_id, llada_objective_config(cfg).llada_eps, random_length_prob=0.0)
    out = objective(model, tokens)
    bound = nll_bound_per_token(model, tokens[:EVAL_SEQUENCES], cfg.model.mask_id)
    return {"eval_loss": out.loss.item(), "eval_masked_ce": out.metrics["masked_ce"], "nll_bound_per_token": bound}


def llada_score_tokens(
    model: nn.Module, cfg: Config, tokens: torch.Tensor, n_targets: list[int], mc_num: int = 32
) -> list[tuple[float, bool]]:
    """Per row of tokens (B, T): (minus the MC upper bound on the NLL of its last n_targets[i] tokens given
    the rest, False): an estimate of a lower bound on the log-likelihood, never a greedy match. Each row's
    `mc_num` samples share forwards in batches of up to 16."""
    batch_size = math.gcd(mc_num, 16)
    return [
        (
            -mc_nll_bound(
                model, row, cfg.model.mask_id, mc_num=mc_num, batch_size=batch_size, prompt_len=row.shape[0] - n
            )
            * n,
            False,
        )
        for row, n in zip(tokens, n_targets)
    ]
