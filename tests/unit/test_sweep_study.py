"""Sweep study files are validated before any trial starts; spaces resolve to config overrides."""

import math

import pytest

from cola_core.config import Config, ConfigError
from sweeps.study import load_sweep_study

HEAD = '[study]\nname = "t"\nfamily = "cola"\npreset = "tiny"\ndata = "d"\nsteps = 10\nsearch = "grid"\n'


def write(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_coupled_space_with_derived_loc_and_bundles(tmp_path):
    study = load_sweep_study(
        write(
            tmp_path,
            HEAD
            + (
                'objective = "fm_loss_uniform"\n[overrides]\n"train.stage" = 2\n'
                '[space]\n"model.latent_dim" = { grid = [16, 64] }\ndelta = { grid = [-0.5, 0.0] }\n'
                'variant = { bundle = { joint = { "train.latent_evolution" = "joint" }, slow = { "train.latent_evolution" = "joint", "train.vae_lr_ratio" = 0.01 } } }\n'
                '[derived]\n"objective.noise_loc" = "base + 0.5 * log(model.latent_dim / 16) + delta"\n[constants]\nbase = 1.0\n'
            ),
        )
    )
    points = study.space.grid_points()
    assert len(points) == 2 * 2 * 2
    base = study.base_config()
    over = study.space.resolve_trial({"model.latent_dim": 64, "delta": 0.0, "variant": "slow"}, base)
    assert over["objective.noise_loc"] == pytest.approx(1.0 + 0.5 * math.log(4))
    assert over["train.vae_lr_ratio"] == 0.01 and over["model.latent_dim"] == 64


@pytest.mark.parametrize(
    "body,fragment",
    [
        ('objective = "x"\n[space]\n"model.nope" = { grid = [1, 2] }\n', "unknown config key 'model.nope'"),
        ('objective = "x"\n[space]\n', "[space] is empty"),
        ('objective = "x"\n', "[space] is empty"),
        ('objective = "x"\n[space]\n"model.block_size" = { grid = [4, 5] }\n', "invalid trial"),
        ('objective = "x"\n[space]\n"objective.noise_loc" = { grid = [] }\n', "list is empty"),
        ('objective = "x"\n[space]\n"objective.noise_loc" = { uniform = [2, 1] }\n', "low < high"),
        ('objective = "x"\n[space]\n"objective.noise_loc" = { gaussian = [0, 1] }\n', "unknown kind"),
        (
            'objective = "x"\n[space]\nd = { grid = [1.0] }\n[derived]\n"objective.noise_loc" = "d + missing"\n',
            "undefined missing",
        ),
        (
            'objective = "x"\n[space]\nd = { grid = [-9.0] }\n[derived]\n"objective.noise_scale" = "d"\n',
            "invalid trial",
        ),
        ('objective = "x"\nbogus = 1\n[space]\n"model.latent_dim" = { grid = [16] }\n', "unknown [study] key"),
        ('objective = "x"\nsearch = "bayes"\n[space]\n"model.latent_dim" = { grid = [16] }\n', "study.search"),
        (
            'objective = ["a", "b"]\nmode = ["min"]\n[space]\n"model.latent_dim" = { grid = [16] }\n',
            "same (non-zero) length",
        ),
        ('objective = "x"\n[space]\n"objective.noise_loc" = { uniform = [0, 1] }\n', "grid search needs grid/choice"),
        (
            'objective = "x"\nworkers_per_trial = 1\n[overrides]\n"train.eval_every" = 216\n"train.ckpt_every" = 50\n'
            '[space]\n"model.latent_dim" = { grid = [16] }\n',
            "must be a multiple of train.eval_every",
        ),
        (
            'objective = "continuation_acc"\neval_tasks = ["continuation"]\n[overrides]\n"train.eval_every" = 50\n'
            '[space]\n"model.latent_dim" = { grid = [16] }\n',
            "comes from the end-of-trial tasks",
        ),
        (
            'objective = "x"\nanalysis = "rate_distortion"\n[space]\n"objective.beta_kl" = { grid = [1.0] }\n',
            "needs study.group_by",
        ),
    ],
)
def test_bad_studies_fail_up_front(tmp_path, body, fragment):
    head = HEAD.replace('search = "grid"\n', "") if "search =" in body else HEAD
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_sweep_study(write(tmp_path, head + body))


def test_unknown_table_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown table"):
        load_sweep_study(write(tmp_path, HEAD + 'objective = "x"\n[spaces]\n'))


def test_shipped_studies_parse():
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[2] / "studies").glob("*.toml"))
    sweeps = [f for f in files if "[space]" in f.read_text()]
    assert len(sweeps) >= 6
    for f in sweeps:
        study = load_sweep_study(f)
        assert isinstance(study.base_config(), Config)


def test_grid_runs_once_by_default_and_counts_bundles(tmp_path):
    from sweeps.sweep_report import compute_spent

    body = (
        'objective = "x"\n[space]\nschedule = { bundle = { a = { "objective.noise_loc" = 0.0 }, '
        'u = { "objective.t_sampling" = "uniform" } } }\n"model.latent_dim" = { grid = [8, 16] }\n'
    )
    study = load_sweep_study(write(tmp_path, HEAD + body))
    assert study.num_samples == 1
    assert load_sweep_study(write(tmp_path, HEAD.replace('"grid"', '"tpe"') + body)).num_samples == 8
    # trials whose FLOPs/token differ (latent dim) are not "stopped early"; one with fewer tokens is
    records = [{"flops": 90.0, "tokens": 10}, {"flops": 100.0, "tokens": 10}, {"flops": 50.0, "tokens": 5}]
    c = compute_spent(records, study, full_trial_flops=100.0, full_trial_tokens=10)
    assert c["grid_size"] == 4 and c["flops_full_grid"] == 400.0
    assert c["trials_stopped_early"] == 1 and c["flops_all_trials_full"] == 290.0


def test_concurrent_trials_split_the_cores_between_them(tmp_path):
    from cola_platform.tune.runner import max_concurrent, trial_threads

    study = load_sweep_study(
        write(
            tmp_path, HEAD + 'objective = "x"\nworkers_per_trial = 1\n[space]\n"model.latent_dim" = { grid = [16] }\n'
        )
    )
    assert max_concurrent(study, 2) == 2 and trial_threads(study, 2) == 1
    study.workers_per_trial, study.max_concurrent = 2, 0
    assert max_concurrent(study, 8) == 4 and trial_threads(study, 8) == 1
    study.max_concurrent = 1
    assert trial_threads(study, 8) == 4
