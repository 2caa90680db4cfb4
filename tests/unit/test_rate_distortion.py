"""Rate-distortion: a VAE's rate falls and its distortion rises with beta (fixed seed), and the sweep
analysis reads D(R), the total bits and the best operating point from trial records."""

from __future__ import annotations

import math

import torch

from cola_core.families.cola.likelihood import cola_eval_loss
from sweeps.rate_distortion import rd_analysis, rd_markdown, rd_plot
from test_cola_helpers import tiny_cfg, train_vae


def _stage1_point(beta: float, steps: int = 50) -> dict[str, float]:
    """Train a tiny Stage-1 VAE with `beta` on a fixed seed; its held-out (rate, distortion)."""
    cfg = tiny_cfg(stage=1)
    cfg.objective.beta_kl, cfg.objective.lambda_mask = beta, 0.0
    gen = torch.Generator().manual_seed(0)
    model = train_vae(cfg, steps, 16, 40, gen)
    torch.manual_seed(1)
    return cola_eval_loss(model, torch.randint(3, 40, (64, 16), generator=gen), cfg)


def test_rate_falls_and_distortion_rises_with_beta_on_a_fixed_seed():
    points = [_stage1_point(beta) for beta in (1e-3, 3e-2, 1.0)]
    rates, distortions = [p["elbo_rate"] for p in points], [p["elbo_rec"] for p in points]
    assert rates[0] > rates[1] > rates[2] >= 0, rates
    assert distortions[0] < distortions[1] < distortions[2], distortions
    records = [
        {"status": "ok", "objective.beta_kl": b, "elbo_prior": 0.0, **p} for b, p in zip((1e-3, 3e-2, 1.0), points)
    ]
    assert rd_analysis(records, "objective.beta_kl")["monotone"]


def _record(beta: float, rate: float, rec: float, prior: float) -> dict:
    return {"status": "ok", "objective.beta_kl": beta, "elbo_rate": rate, "elbo_rec": rec, "elbo_prior": prior}


def test_the_analysis_orders_by_rate_and_marks_the_fewest_bits(tmp_path):
    records = [
        _record(1.0, 2.0, 3.0, -0.5),  # total 4.5
        _record(0.01, 20.0, 0.5, -4.0),  # total 16.5
        _record(0.1, 8.0, 1.0, -2.0),  # total 7.0
        {"status": "failed", "objective.beta_kl": 0.3},
    ]
    rd = rd_analysis(records, "objective.beta_kl")
    assert [p["value"] for p in rd["points"]] == [1.0, 0.1, 0.01] and rd["monotone"]
    assert rd["best"]["value"] == 1.0 and math.isclose(rd["best"]["total_bits"], 4.5 / math.log(2))
    assert "| 1.0 | 2.000 | 3.000 |" in "\n".join(rd_markdown(rd)) and "**best**" in "\n".join(rd_markdown(rd))
    assert rd_plot(rd, tmp_path / "rd.png").stat().st_size > 1000
    records[2]["elbo_rec"] = 0.2  # beta 0.1 now reconstructs better than beta 0.01 at less rate
    assert not rd_analysis(records, "objective.beta_kl")["monotone"]
    assert "error" in rd_analysis([{"status": "ok", "objective.beta_kl": 1.0}], "objective.beta_kl")
