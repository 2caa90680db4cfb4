"""A re-submitted sweep whose search space or trial settings changed is refused with one line (Tune would
restore the old trials: run nothing new, or report them as results of the new settings); the same study, one
that changed only its summary fields, or a study started before records were kept, passes."""

import json
from pathlib import Path

import pytest

from cola_platform.errors import UserError
from cola_platform.tune.space_record import RECORD, check_space_unchanged, record_space, space_fingerprint
from sweeps.study import load_sweep_study

STUDY = """[study]
name = "t"
family = "ar"
data = "d"
steps = {steps}
search = "grid"
objective = ["eval_loss"]
[space]
"optim.lr" = {{ grid = {grid} }}
"""


def study(tmp_path: Path, grid: str, steps: int = 10, extra: str = ""):
    path = tmp_path / f"s{abs(hash((grid, steps, extra)))}.toml"
    path.write_text(STUDY.format(grid=grid, steps=steps).replace("[space]", extra + "\n[space]"))
    return load_sweep_study(path)


def test_a_changed_space_is_refused_and_the_same_one_passes(tmp_path):
    out = tmp_path / "out"
    first = study(tmp_path, "[1e-3, 1e-2]")
    check_space_unchanged(out, first)  # nothing recorded yet: a study from before records passes
    record_space(out, first)
    assert (out / RECORD).is_file()
    check_space_unchanged(out, study(tmp_path, "[1e-3, 1e-2]"))
    assert space_fingerprint(first) != space_fingerprint(study(tmp_path, "[1e-3, 1e-2, 2e-2]"))
    with pytest.raises(UserError, match="search space, search or trial count changed"):
        check_space_unchanged(out, study(tmp_path, "[1e-3, 1e-2, 2e-2]"))


def test_changed_trial_settings_are_refused_and_summary_fields_pass(tmp_path):
    out = tmp_path / "out"
    record_space(out, study(tmp_path, "[1e-3]"))
    check_space_unchanged(out, study(tmp_path, "[1e-3]", extra='description = "now described"\nmax_concurrent = 1'))
    with pytest.raises(UserError, match=r"trial settings \(steps"):
        check_space_unchanged(out, study(tmp_path, "[1e-3]", steps=20))
    with pytest.raises(UserError, match="trial settings"):
        check_space_unchanged(out, study(tmp_path, "[1e-3]", extra="eval_items = 9"))


def test_a_record_without_settings_checks_only_the_space(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / RECORD).write_text(json.dumps({"study": "t", "fingerprint": space_fingerprint(study(tmp_path, "[1e-3]"))}))
    check_space_unchanged(out, study(tmp_path, "[1e-3]", steps=20))
