"""The fault suite's machinery (`python -m jobs.bench faults`), on its two cheapest drills.

The expensive drills (Ray Train, the throwaway cluster) are not re-run here: each has its own test,
named in the catalog. What is checked: the JSON's shape, the Markdown table, `--only`, and that a
claim the platform does not meet, a drill that crashes and a drill that checks nothing are all
reported `failed`, never `held`.
"""

from __future__ import annotations

import json

import pytest

from cola_platform.errors import UserError
from cola_platform.faults import drills_local
from cola_platform.faults.catalog import CATALOG
from cola_platform.faults.context import FaultContext
from cola_platform.faults.runner import run_suite
from cola_platform.faults.suite import Fault, Probe, covering_tests
from jobs import bench

FAULT_KEYS = {"name", "fault", "claim", "verdict", "seconds", "observed", "checks", "evidence", "covered_by", "error"}


def test_two_in_process_faults_held_with_their_evidence(tmp_path):
    out = tmp_path / "faults.json"
    code = bench.main(
        [
            "faults",
            "--only",
            "diverged-loss,checkpoint-corrupt",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ]
    )
    report = json.loads(out.read_text())
    assert code == 0 and report["verdicts"] == {"held": 2, "failed": 0}
    assert report["command"].startswith("python -m jobs.bench faults --only diverged-loss,checkpoint-corrupt")
    assert report["machine"]["cores"] >= 1 and report["seconds"] > 0 and report["started"]
    assert [f["name"] for f in report["faults"]] == ["checkpoint-corrupt", "diverged-loss"]  # catalog order
    for fault in report["faults"]:
        assert set(fault) == FAULT_KEYS and fault["verdict"] == "held" and not fault["error"]
        assert fault["checks"] and all(c["ok"] and c["claim"] and c["observed"] for c in fault["checks"])
        assert fault["covered_by"] and all(t["exists"] for t in fault["covered_by"])
    corrupt, diverged = report["faults"]
    assert corrupt["evidence"]["resumed_from_step"] == 3 and "step_6" in corrupt["observed"]
    assert "the run diverged" in diverged["evidence"]["error"] and diverged["evidence"]["seconds"] > 0
    table = out.with_suffix(".md").read_text()
    assert "| fault | what happens | verdict | covered by |" in table
    assert "`checkpoint-corrupt`" in table and "`diverged-loss`" in table and "**2 held, 0 failed.**" in table


def test_a_broken_claim_a_crashing_drill_and_an_empty_drill_are_failed(tmp_path):
    def broken_claim(ctx: FaultContext, probe: Probe) -> None:
        drills_local.diverged_loss(ctx, probe)  # the real drill: its own checks pass
        probe.expect("a diverged run writes result.json", (ctx.workdir / "diverged" / "result.json").exists(), "none")

    def crashes(ctx: FaultContext, probe: Probe) -> None:
        probe.expect("reached", True)
        raise RuntimeError("the drill could not inject its fault")

    catalog = [
        Fault("broken-claim", "the loss diverges", "result.json is written", broken_claim),
        Fault("crashes", "a drill that raises", "nothing", crashes),
        Fault("checks-nothing", "a drill that checks nothing", "nothing", lambda ctx, probe: None),
    ]
    report = run_suite(tmp_path / "f.json", "test", workdir=str(tmp_path / "work"), catalog=catalog)
    faults = {f["name"]: f for f in report["faults"]}
    assert report["verdicts"] == {"held": 0, "failed": 3}
    broken = faults["broken-claim"]
    assert broken["verdict"] == "failed" and not broken["error"]
    assert [c["claim"] for c in broken["checks"] if not c["ok"]] == ["a diverged run writes result.json"]
    assert len([c for c in broken["checks"] if c["ok"]]) >= 3, "the real drill's own checks held"
    assert faults["crashes"]["verdict"] == "failed" and "could not inject" in faults["crashes"]["error"]
    assert (
        faults["checks-nothing"]["verdict"] == "failed"
        and faults["checks-nothing"]["error"] == "the drill checked nothing"
    )
    table = (tmp_path / "f.md").read_text()
    assert table.count("**failed**") == 3 and "*Not met:* a diverged run writes result.json" in table
    assert "none yet (this drill only)" in table


def test_unknown_fault_names_are_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="unknown fault.*no-such-fault.*--only takes names from"):
        bench.main(["faults", "--only", "no-such-fault", "--json", str(tmp_path / "f.json")])
    assert not (tmp_path / "f.json").exists()


def test_the_catalog_names_tests_that_exist():
    names = [f.name for f in CATALOG]
    assert len(names) == len(set(names))
    missing = [(f.name, t["test"]) for f in CATALOG for t in covering_tests(f.covered_by) if not t["exists"]]
    assert not missing, f"the reliability table would cite tests that do not exist: {missing}"
