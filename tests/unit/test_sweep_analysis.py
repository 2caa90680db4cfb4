"""Pure sweep/scaling analyses: safe expressions, RQ1 drift test, power-law/isoFLOP fits, crossovers."""

import numpy as np
import pytest

from sweeps.expr import ExprError, evaluate, names
from sweeps.fits import crossover, fit_isoflop, fit_optimal_size, fit_power_law
from sweeps.rq1 import drift_test
from sweeps.values import points_of


def test_expressions_are_safe_and_dotted():
    env = {"base": 1.0, "model.latent_dim": 64, "delta": 0.1}
    expr = "base + 0.5 * log(model.latent_dim / 16) + delta"
    assert names(expr) == {"base", "model.latent_dim", "delta"}
    assert evaluate(expr, env) == pytest.approx(1.0 + 0.5 * np.log(4) + 0.1)
    for bad in ("__import__('os')", "open('x')", "[1, 2]", "base if 1 else 2", "model.latent_dim.real"):
        with pytest.raises(ExprError):
            evaluate(bad, env)
    with pytest.raises(ExprError, match="unknown name"):
        evaluate("gamma + 1", env)


def test_points_of_filters_family_budget_and_finite_metric():
    pts = [
        {"family": "ar", "budget": 1e12, "nll": 3.0},
        {"family": "ar", "budget": 2e12, "nll": float("nan")},
        {"family": "ar", "budget": 2e12, "nll": True},
        {"family": "cola", "budget": 1e12, "nll": 4.0},
        {"family": "ar", "budget": 2e12},
    ]
    assert points_of(pts, "ar") == [pts[0], pts[1], pts[2], pts[4]]
    assert points_of(pts, "ar", 2e12) == [pts[1], pts[2], pts[4]]
    assert points_of(pts, "ar", metric="nll") == [pts[0]]
    assert points_of(pts, "ar", 2e12, "nll") == [] and points_of(pts, "llada") == []


def synthetic_rq1(drift: float, seed: int):
    rng = np.random.default_rng(seed)
    rows = []
    for d in (16, 64, 128):
        best = 1.0 + drift * np.log(d / 16)
        for loc in np.linspace(0.0, 3.0, 7):
            for _ in range(2):
                rows.append(
                    {
                        "model.latent_dim": d,
                        "objective.noise_loc": loc,
                        "fm_loss_uniform": 1.0 + 0.1 * (loc - best) ** 2 + rng.normal(0, 0.005),
                    }
                )
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rq1_recovers_a_planted_drift(seed):
    result = drift_test(synthetic_rq1(0.5, seed), n_boot=300, seed=seed)
    assert result.monotonic_drift and result.direction == "increasing"
    assert result.slope == pytest.approx(0.5, abs=0.1)
    assert [round(r.best_loc, 1) for r in result.dims] == pytest.approx([1.0, 1.7, 2.0], abs=0.15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rq1_reports_no_drift_when_there_is_none(seed):
    result = drift_test(synthetic_rq1(0.0, seed), n_boot=300, seed=seed)
    assert not result.monotonic_drift and result.direction == "none"
    assert result.slope_ci[0] < 0 < result.slope_ci[1]


def test_power_law_recovers_exponent():
    c = np.logspace(15, 19, 6)
    m = 3e3 * c**-0.12 * np.exp(np.random.default_rng(0).normal(0, 0.005, 6))
    fit = fit_power_law(c, m)
    assert fit.alpha == pytest.approx(-0.12, abs=0.01) and fit.r2 > 0.99
    assert fit.alpha_ci[0] < -0.12 < fit.alpha_ci[1] or abs(fit.alpha + 0.12) < 0.005
    with pytest.raises(ValueError):
        fit_power_law([1e15], [2.0])


def test_isoflop_recovers_optimal_size_exponent():
    budgets = [1e16, 1e17, 1e18]
    fits = []
    for c in budgets:
        n_opt = 0.1 * c**0.5
        sizes = n_opt * np.array([1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0])
        loss = 2.0 + 0.3 * (np.log10(sizes) - np.log10(n_opt)) ** 2
        loss[1] += 0.3  # one outlier: the Huber fit shrugs it off (plain least squares moves ~0.12 decades)
        fits.append(fit_isoflop(c, list(sizes), list(loss)))
    assert all(f is not None for f in fits)
    for f, c in zip(fits, budgets):
        assert np.log10(f.optimal_params) == pytest.approx(np.log10(0.1 * c**0.5), abs=0.03)
    law = fit_optimal_size(fits)
    assert law.alpha == pytest.approx(0.5, abs=0.05)


def test_crossover_found_only_when_lines_cross():
    c = np.logspace(15, 18, 5)
    cola = 0.05 * (c / 1e15) ** 0.30  # steeper accuracy growth
    ar = 0.10 * (c / 1e15) ** 0.15
    x = crossover(list(c), list(cola), list(c), list(ar), higher_is_better=True)
    expected = 1e15 * 2 ** (1 / 0.15)  # 0.05 r^.3 = 0.1 r^.15  ->  r = 2^(1/.15)
    assert x.budget == pytest.approx(expected, rel=0.05) and x.fraction_crossing > 0.9
    parallel = crossover(list(c), list(0.5 * ar), list(c), list(ar), higher_is_better=True)
    assert parallel.budget is None
    worse = crossover(list(c), list(ar), list(c), list(cola), higher_is_better=True)
    assert worse.budget is None


def test_scaling_analysis_carries_each_familys_readable_metric(tmp_path):
    """The readable diagnostic is a lower-is-better frontier per family, named, and plotted."""
    from sweeps.scaling_plots import curves_plot
    from sweeps.scaling_report import analyze

    points = [
        {
            "family": fam,
            "preset": "tiny",
            "budget": b,
            "flops": b,
            "readable_name": name,
            "readable_metric": value,
            "nll_nats_per_token": 3.0,
            "accuracy_mean": 0.1,
        }
        for fam, name, values in (
            ("ar", "nll_per_token", (4.0, 3.0, 2.0)),
            ("cola", "prior_context_err", (0.99, 0.9, 0.8)),
        )
        for b, value in zip((1e11, 2e11, 4e11), values)
    ]
    points.append({**points[0], "preset": "xs", "readable_metric": 5.0})  # a worse preset at the first budget
    analysis = analyze(points, ["ar", "cola"], "eval_loss", "accuracy_mean")
    ar = analysis["families"]["ar"]
    assert ar["readable_name"] == "nll_per_token"
    assert [c["value"] for c in ar["readable_curve"]] == [4.0, 3.0, 2.0]
    assert [c["value"] for c in analysis["families"]["cola"]["readable_curve"]] == [0.99, 0.9, 0.8]
    assert curves_plot(points, analysis, tmp_path / "curves.png").stat().st_size > 0


def test_sweep_best_is_a_full_trial_and_the_table_marks_stopped_ones(tmp_path):
    from sweeps.study import load_sweep_study
    from sweeps.sweep_report import summarize

    study_file = tmp_path / "s.toml"
    study_file.write_text(
        '[study]\nname = "s"\nfamily = "ar"\npreset = "tiny"\ndata = "d"\nsteps = 10\nsearch = "tpe"\n'
        'scheduler = "asha"\nobjective = "gain"\nmode = "max"\n[space]\n"optim.lr" = { loguniform = [1e-3, 1e-2] }\n'
    )
    study = load_sweep_study(study_file)
    records = [
        {"optim.lr": 1e-3, "gain": 0.5, "tokens": 40, "flops": 4.0, "status": "ok"},  # stopped early, noisy
        {"optim.lr": 2e-3, "gain": 0.2, "tokens": 100, "flops": 10.0, "status": "ok"},
        {"optim.lr": 3e-3, "gain": 0.3, "tokens": 100, "flops": 10.0, "status": "ok"},
    ]
    s = summarize(study, records, tmp_path, full_trial_flops=10.0, full_trial_tokens=100)
    assert s["best"]["optim.lr"] == 3e-3
    table = (tmp_path / "summary.md").read_text()
    assert "40% (stopped)" in table and table.index("| 0.003 ") < table.index("| 0.002 ") < table.index("| 0.001 ")


def test_a_trial_whose_point_sets_steps_and_batch_is_measured_against_its_own_full_size(tmp_path):
    from sweeps.study import load_sweep_study
    from sweeps.sweep_report import compute_spent, summarize

    study_file = tmp_path / "s.toml"
    study_file.write_text(
        '[study]\nname = "s"\nfamily = "ar"\npreset = "tiny"\ndata = "d"\nsteps = 10\nsearch = "grid"\n'
        'objective = "nll"\n[space]\n"train.micro_batch_size" = { grid = [8, 16] }\n'
    )
    study = load_sweep_study(study_file)
    # the study's base trains 100 tokens; the second trial's point doubles its batch (full = 200 tokens)
    records = [
        {"train.micro_batch_size": 8, "nll": 2.0, "tokens": 100, "flops": 10.0, "status": "ok"},
        {
            "train.micro_batch_size": 16,
            "nll": 1.9,
            "tokens": 200,
            "flops": 20.0,
            "status": "ok",
            "full_trial_tokens": 200,
        },
        {
            "train.micro_batch_size": 16,
            "nll": 1.5,
            "tokens": 100,
            "flops": 10.0,
            "status": "ok",
            "full_trial_tokens": 200,
        },
    ]  # stopped half-way
    c = compute_spent(records, study, full_trial_flops=10.0, full_trial_tokens=100, full_grid_flops=30.0)
    assert c["trials_stopped_early"] == 1 and c["flops_all_trials_full"] == 50.0 and c["flops_full_grid"] == 30.0
    s = summarize(study, records, tmp_path, full_trial_flops=10.0, full_trial_tokens=100)
    assert s["best"]["nll"] == 1.9  # the stopped trial's better number is not comparable
    table = (tmp_path / "summary.md").read_text()
    assert table.count("| 100% |") == 2 and "50% (stopped)" in table and "200%" not in table


def test_an_evaluation_only_studys_trials_count_as_run_to_the_end(tmp_path):
    """Trials of a `checkpoint` study train nothing: none is "stopped early", every one is full."""
    from cola_core.presets import resolve_config
    from cola_platform.tune.runner import trial_tokens
    from sweeps.study import load_sweep_study
    from sweeps.sweep_report import compute_spent, summarize

    study_file = tmp_path / "s.toml"
    study_file.write_text(
        '[study]\nname = "s"\nfamily = "llada"\npreset = "tiny"\ndata = "d"\nsteps = 10\n'
        'checkpoint = "ckpt"\nsearch = "grid"\nobjective = "q"\nmode = "max"\nworkers_per_trial = 0\n'
        '[space]\n"sampler.steps" = { grid = [8, 16] }\n'
    )
    study = load_sweep_study(study_file)
    full_tokens = trial_tokens(study, resolve_config("llada", "tiny", {"train.steps": 10}))
    assert full_tokens == 0
    records = [
        {"sampler.steps": 8, "q": 0.1, "tokens": 0, "flops": 0.0, "status": "ok"},
        {"sampler.steps": 16, "q": 0.3, "tokens": 0, "flops": 0.0, "status": "ok"},
    ]
    assert compute_spent(records, study, 0.0, full_tokens)["trials_stopped_early"] == 0
    s = summarize(study, records, tmp_path, full_trial_flops=0.0, full_trial_tokens=full_tokens)
    assert s["best"]["sampler.steps"] == 16 and "(stopped)" not in (tmp_path / "summary.md").read_text()
