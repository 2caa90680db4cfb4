"""The MLflow parent run of a sweep or scaling study: one experiment per study, one parent run.

Training runs of the study are created by `open_tracker` in the same experiment with the tag
`mlflow.parentRunId`, so the MLflow UI nests them under the parent. Re-running a study finds its
parent again by tags (no duplicate parents). MLflow being down never stops a study.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cola_platform.tracking.mlflow_tracker import _experiment_id, mlflow_client, probe, warn_once
from cola_platform.tracking.redact import redact_uri

log = logging.getLogger(__name__)
PARENT_TAG = "cola.study_parent"


@dataclass
class StudyRun:
    """Handle on a study's parent run ('' run id when tracking is off)."""

    uri: str = ""
    run_id: str = ""
    experiment_id: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.run_id)

    def log_summary(self, summary: dict[str, Any], out: Path, artifacts: list[Path] | None = None) -> None:
        """Numbers of the summary as metrics, the summary files and plots as artifacts."""
        if not self.enabled:
            return
        try:
            client = mlflow_client(self.uri)
            for key, value in flat_numbers(summary).items():
                client.log_metric(self.run_id, key, value)
            files = (
                artifacts
                if artifacts is not None
                else sorted(p for p in out.glob("*") if p.suffix in (".json", ".md", ".html"))
            )
            for path in files:
                client.log_artifact(self.run_id, str(path))
            plots = out / "plots"
            if plots.is_dir():
                client.log_artifacts(self.run_id, str(plots), artifact_path="plots")
            client.set_terminated(self.run_id, "FINISHED")
        except Exception as err:  # tracking must never fail a study
            warn_once(
                f"study-log:{self.uri}", f"MLflow logging of the study summary failed ({type(err).__name__}: {err})"
            )


def flat_numbers(d: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, float]:
    """Finite numeric leaves of a nested dict, keys joined with '.', lists skipped (MLflow metrics)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, bool):
            out[key] = float(v)
        elif isinstance(v, (int, float)) and math.isfinite(v):
            out[key] = float(v)
        elif isinstance(v, dict) and depth < 2:
            out.update(flat_numbers(v, key + ".", depth + 1))
    return {k.replace(" ", "_")[:250]: v for k, v in out.items()}


def open_study_run(study: str, kind: str, params: dict[str, Any], tracking_uri: str = "") -> StudyRun:
    """Find or create the parent run of `study` in experiment `study` (StudyRun() when tracking is off)."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        return StudyRun()
    reason = probe(uri)
    if reason:
        warn_once(
            f"mlflow-down:{uri}", f"MLflow at {redact_uri(uri)} is unreachable ({reason}); the study runs untracked"
        )
        return StudyRun()
    try:
        client = mlflow_client(uri)
        exp = _experiment_id(client, study)
        found = client.search_runs(
            [exp], filter_string=f"tags.`{PARENT_TAG}` = 'true' and tags.study = '{study}'", max_results=1
        )
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            run_id = client.create_run(
                exp, run_name=f"{kind}:{study}", tags={PARENT_TAG: "true", "study": study, "kind": kind}
            ).info.run_id
            for k, v in params.items():
                client.log_param(run_id, k, json.dumps(v) if not isinstance(v, str) else v)
        log.info("study %s: MLflow parent run %s at %s", study, run_id, redact_uri(uri))
        return StudyRun(uri, run_id, exp)
    except Exception as err:
        warn_once(f"study-open:{uri}", f"MLflow parent run for {study} failed ({type(err).__name__}: {err}); untracked")
        return StudyRun()
