"""A re-submitted sweep whose search space changed is refused with one line (Tune would restore the old
space and run nothing new); the same space, or a study started before spaces were recorded, passes."""

from pathlib import Path

import pytest

from cola_platform.errors import UserError
from cola_platform.tune.space_record import RECORD, check_space_unchanged, record_space, space_fingerprint
from sweeps.study import load_sweep_study

STUDY = """[study]
name = "t"
family = "ar"
data = "d"
steps = 10
search = "grid"
objective = ["eval_loss"]
[space]
"optim.lr" = {{ grid = {grid} }}
"""


def study(tmp_path: Path, grid: str):
    path = tmp_path / f"s{abs(hash(grid))}.toml"
    path.write_text(STUDY.format(grid=grid))
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
