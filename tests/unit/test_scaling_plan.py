"""The scaling planner: steps from exact FLOPs hit every budget within 2 %, study files validate up front."""

import pytest

from cola_core.config import ConfigError
from sweeps.scaling_plan import ScalingStudy, load_scaling_study, plan_study

DATA = {"data.seq_len": 64, "model.vocab_size": 512}


def study(**kw) -> ScalingStudy:
    base = dict(
        name="t", families=["ar", "llada", "cola"], budgets=[3e12, 1e13, 4e13], presets=["tiny", "xs"], data="d"
    )
    return ScalingStudy(**{**base, **kw})


def test_planner_hits_each_budget_within_two_percent():
    plan = plan_study(study(), DATA)
    ran = [r for r in plan if not r.skipped]
    assert len(ran) >= 12
    for r in ran:
        assert abs(r.flops - r.budget) / r.budget <= 0.02, r.to_dict()
    cola = [r for r in ran if r.family == "cola"]
    assert all(len(r.stages) == 2 and r.stages[0].overrides["train.stage"] == 1 for r in cola)
    assert all(r.stages[0].flops == pytest.approx(0.3 * r.budget, rel=0.05) for r in cola)


def test_too_small_budget_is_skipped_with_a_reason():
    plan = plan_study(study(budgets=[1e9]), DATA)
    assert all(r.skipped and "cannot hit" in r.skipped for r in plan)


def test_study_file_validation(tmp_path):
    good = tmp_path / "s.toml"
    good.write_text(
        '[study]\nname="s"\nfamilies=["ar","cola"]\nbudgets=[1e13]\npresets=["tiny"]\ndata="d"\n'
        '[overrides]\n"train.micro_batch_size"=4\n[overrides.cola]\n"objective.noise_loc"=1.5\n'
    )
    s = load_scaling_study(good)
    assert s.family_overrides == {"cola": {"objective.noise_loc": 1.5}} and s.overrides == {"train.micro_batch_size": 4}
    for text, fragment in [
        ('[study]\nname="s"\nfamilies=["gpt"]\nbudgets=[1e13]\npresets=["tiny"]\ndata="d"\n', "unknown family"),
        ('[study]\nname="s"\nfamilies=["ar"]\nbudgets=[1e13]\npresets=["huge"]\ndata="d"\n', "unknown preset"),
        ('[study]\nname="s"\nfamilies=["ar"]\nbudgets=[-1]\npresets=["tiny"]\ndata="d"\n', "positive"),
        (
            '[study]\nname="s"\nfamilies=["ar"]\nbudgets=[1e13]\npresets=["tiny"]\ndata="d"\nbogus=1\n',
            "unknown [study] key",
        ),
        ('[study]\nname="s"\n', "needs 'families'"),
        ("[stdy]\n", "unknown table"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
            load_scaling_study(bad)
