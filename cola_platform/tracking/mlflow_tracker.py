"""MLflow tracking of one training run, written so that MLflow can never stop training.

- `open_tracker(cfg, run_dir)` (driver / in-process runner): when `run.tracking_uri` or
  `MLFLOW_TRACKING_URI` is set, probes the server (5 s), then creates the MLflow run, or reopens
  the one recorded in `RUN_DIR/mlflow_run.json` (or in the latest checkpoint), so restarts and
  re-runs continue one MLflow run; any other run of the same run directory still RUNNING (left by
  a killed process) is ended as KILLED (`stale_runs`). Logs params (the flattened config, minus
  secrets), tags (`family`, `preset`, `study`, `git_commit`, `cola.run_dir`, ...) and `config.json`.
- `MlflowTracker.attach(info)` (the run recorder next to the driver): the same run, metrics only.
- `log_record(record)`: every numeric field of a metrics record at its `step`; a (metric, step)
  already in the run is skipped, so a resumed run never logs a step twice.
- `finish(result, run)`: `result.json`, `config.json`, `metrics.jsonl`, the model file and
  tokenizer as artifacts, and the run marked FINISHED.

If the server is unreachable or a call fails, one warning is logged and training continues (metrics
still go to metrics.jsonl): `open_tracker` returns a `NullTracker` (every `Tracker` method, doing
nothing); a failed metric log (a server slowed down by a busy machine) pauses metric logging for
`RETRY_AFTER_S`, and `finish` logs every (metric, step) of metrics.jsonl that the run does not hold yet,
so a finished run's curves are whole; any other failed call turns the tracker off. HTTP calls fail fast
(`MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`, `MLFLOW_HTTP_REQUEST_TIMEOUT=5` unless already set).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

from cola_core.config import Config
from cola_core.utils.io import atomic_write_json
from cola_platform.training.run_dir import read_metrics
from cola_platform.tracking.redact import redact_uri, safe_value, scrub
from cola_platform.tracking.stale_runs import RUN_DIR_TAG, end_stale_runs, run_dir_tag

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

RUN_FILE = "mlflow_run.json"
PROBE_TIMEOUT_S = 5.0
ARTIFACT_TIMEOUT_S = "600"
RETRY_AFTER_S = 60.0
BATCH = 1000  # metrics per log_batch call (MLflow's limit)
_warned: set[str] = set()


def tracking_uri(cfg: Config) -> str:
    """The MLflow server of a run: `run.tracking_uri`, else `MLFLOW_TRACKING_URI`, else '' (off)."""
    return cfg.run.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")


def mlflow_client(uri: str) -> MlflowClient:
    """The `MlflowClient` of tracking server `uri` (every MLflow call of the platform goes through one)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(credentials_to_env(uri))


def credentials_to_env(uri: str) -> str:
    """`uri` without an http(s) `user:password@`, which moves into MLflow's basic-auth variables
    (`MLFLOW_TRACKING_USERNAME` / `_PASSWORD`): MLflow's client prints run URLs built from its URI, so a
    password inside it would reach every job's output."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri
    if parts.username is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"] = unquote(parts.username)
    if parts.password is not None:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, parts.query, parts.fragment))


def warn_once(key: str, message: str) -> None:
    """Log `message` as a warning the first time `key` is seen in this process (secrets scrubbed)."""
    if key not in _warned:
        _warned.add(key)
        log.warning(scrub(message))


def probe(uri: str) -> str:
    """'' when an http(s) tracking server answers `/health` within 5 s, else the reason."""
    if not uri.startswith(("http://", "https://")):
        return ""
    try:
        with urllib.request.urlopen(redact_uri(uri).rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S) as resp:
            return "" if resp.status == 200 else f"HTTP {resp.status}"
    except OSError as err:
        return f"{type(err).__name__}: {err}"


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@dataclass(frozen=True)
class TrackingInfo:
    """Where a run's metrics go: server, MLflow run and experiment ids."""

    uri: str
    run_id: str
    experiment_id: str


class Tracker:
    """What a training run calls on its tracker; here every method does nothing (`NullTracker`),
    `MlflowTracker` overrides them all."""

    info: TrackingInfo | None = None
    enabled = False

    def load_logged_steps(self) -> None:
        """Read the last logged step of every metric of the run (for de-duplication on resume)."""

    def log_record(self, record: dict[str, Any]) -> None:
        """Log a metrics record's numeric fields at `record['step']`, skipping steps already logged."""

    def log_params_and_tags(self, cfg: Config, extra_tags: dict[str, str] | None = None) -> None:
        """The flattened config (secrets dropped, values already in the run kept) and the standard tags."""

    def backfill(self, records: list[dict[str, Any]]) -> int:
        """Log every numeric (metric, step) of `records` (a metrics.jsonl) that the MLflow run lacks -> how many."""
        return 0

    def log_artifacts(self, files: list[tuple[str, Path]]) -> None:
        """Upload the files that exist: [(artifact_dir, path)] ('' = the run's artifact root)."""

    def finish(self, result: dict[str, Any], run_dir: Path) -> None:
        """Final numbers as `result/*` metrics, the run's files as artifacts, status FINISHED."""

    def end(self, status: str) -> None:
        """Mark the run FINISHED / FAILED / KILLED (a resumed run flips back to RUNNING)."""


class NullTracker(Tracker):
    """Stands in for MlflowTracker when tracking is off or the server is down: every method does nothing."""


class MlflowTracker(Tracker):
    """Logging into one existing MLflow run through `MlflowClient`; never raises."""

    info: TrackingInfo  # always set (by `__init__`)

    def __init__(self, info: TrackingInfo):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
        self.info = info
        self.client = mlflow_client(info.uri)
        self.enabled = True
        self.last_step: dict[str, int] = {}
        self.paused_until = 0.0  # metric logging failed: retried after this time.monotonic()

    @contextlib.contextmanager
    def _guard(self, what: str, pause: bool = False) -> Iterator[None]:
        """Any MLflow / network failure inside: warn once and keep training; `pause` retries after
        RETRY_AFTER_S (metric logging), otherwise the tracker turns off."""
        try:
            yield
        except Exception as err:
            if pause:
                self.paused_until = time.monotonic() + RETRY_AFTER_S
            else:
                self.enabled = False
            warn_once(
                f"mlflow-failed:{self.info.uri}:{pause}",
                f"MLflow {what} failed at {redact_uri(self.info.uri)} ({type(err).__name__}: {err}); "
                + (
                    f"retrying every {RETRY_AFTER_S:.0f} s, metrics still go to metrics.jsonl and the run's end "
                    "logs the steps MLflow missed"
                    if pause
                    else "training continues without MLflow, metrics still go to metrics.jsonl"
                ),
            )

    @classmethod
    def attach(cls, info: TrackingInfo) -> MlflowTracker:
        """Tracker for an existing run that knows which (metric, step) pairs the run already holds."""
        tracker = cls(info)
        tracker.load_logged_steps()
        return tracker

    def load_logged_steps(self) -> None:
        """Read the last logged step of every metric of the run (for de-duplication on resume)."""
        with self._guard("reading the run's metrics"):
            run = self.client.get_run(self.info.run_id)
            for key in run.data.metrics:
                history = self.client.get_metric_history(self.info.run_id, key)
                self.last_step[key] = max((m.step for m in history), default=-1)

    def log_record(self, record: dict[str, Any]) -> None:
        """Log a metrics record's numeric fields at `record['step']`, skipping steps already logged."""
        if not self.enabled or "step" not in record or time.monotonic() < self.paused_until:
            return
        from mlflow.entities import Metric

        step, now = int(record["step"]), int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in _numbers(record) if step > self.last_step.get(k, -1)]
        if not metrics:
            return
        with self._guard("metric logging", pause=True):
            self._log_metrics(metrics)
            for m in metrics:
                self.last_step[m.key] = step

    def _log_metrics(self, metrics: list[Any]) -> None:
        for i in range(0, len(metrics), BATCH):
            self.client.log_batch(self.info.run_id, metrics=metrics[i : i + BATCH])

    def backfill(self, records: list[dict[str, Any]]) -> int:
        """Log every numeric (metric, step) of `records` (a metrics.jsonl) that the MLflow run lacks -> how many."""
        if not self.enabled:
            return 0
        from mlflow.entities import Metric

        with self._guard("backfilling metrics"):
            held = {
                key: {m.step for m in self.client.get_metric_history(self.info.run_id, key)}
                for key in self.client.get_run(self.info.run_id).data.metrics
            }
            now, missing = int(time.time() * 1000), []
            for r in (r for r in records if "step" in r):
                for k, v in _numbers(r):
                    if int(r["step"]) not in held.setdefault(k, set()):
                        held[k].add(int(r["step"]))  # a (metric, step) twice in the file is logged once
                        missing.append(Metric(k, v, now, int(r["step"])))
            self._log_metrics(missing)
            return len(missing)
        return 0

    def log_params_and_tags(self, cfg: Config, extra_tags: dict[str, str] | None = None) -> None:
        """The flattened config (secrets dropped, values already in the run kept) and the standard tags."""
        from mlflow.entities import Param, RunTag

        from cola_platform.training.result import git_commit

        with self._guard("param logging"):
            existing = self.client.get_run(self.info.run_id).data.params
            params = [
                Param(k, v)
                for k, raw in sorted(cfg.flat().items())
                if (v := safe_value(k, raw)) is not None and k not in existing
            ]
            for i in range(0, len(params), 100):
                self.client.log_batch(self.info.run_id, params=params[i : i + 100])
            tags = {
                "family": cfg.run.family,
                "preset": cfg.run.preset,
                "study": cfg.run.study,
                "git_commit": git_commit(),
                "config_hash": cfg.hash(),
                "cola.run_name": cfg.run.name,
                **(extra_tags or {}),
            }
            safe = [RunTag(k, v) for k, raw in tags.items() if (v := safe_value(k, raw)) is not None]
            self.client.log_batch(self.info.run_id, tags=safe)

    def log_artifacts(self, files: list[tuple[str, Path]]) -> None:
        """Upload the files that exist: [(artifact_dir, path)] ('' = the run's artifact root)."""
        if not self.enabled:
            return
        with self._guard("artifact upload"), _env(MLFLOW_HTTP_REQUEST_TIMEOUT=ARTIFACT_TIMEOUT_S):
            for artifact_dir, path in files:
                if Path(path).is_file():
                    self.client.log_artifact(self.info.run_id, str(path), artifact_dir or None)

    def finish(self, result: dict[str, Any], run_dir: Path) -> None:
        """Final numbers as `result/*` metrics, the run's files as artifacts, status FINISHED."""
        if not self.enabled:
            return
        run_dir = Path(run_dir)
        numbers = {
            f"result/{k}": v
            for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        filled = self.backfill(read_metrics(run_dir / "metrics.jsonl"))
        if filled:
            log.info("MLflow run %s: logged %d metric values it had missed", self.info.run_id, filled)
        self.paused_until = 0.0
        self.log_record({"step": int(result.get("steps", 0)), **numbers})
        self.log_artifacts(
            [
                ("", run_dir / "result.json"),
                ("config", run_dir / "config.json"),
                ("metrics", run_dir / "metrics.jsonl"),
                ("model", run_dir / "model.safetensors"),
                ("model", run_dir / "tokenizer.json"),
            ]
        )
        self.end("FINISHED")

    def end(self, status: str) -> None:
        """Mark the MLflow run FINISHED / FAILED / KILLED (a resumed run flips back to RUNNING)."""
        if self.enabled:
            with self._guard("ending the run"):
                self.client.set_terminated(self.info.run_id, status)


def _numbers(record: dict[str, Any]) -> list[tuple[str, float]]:
    """A metrics record's numeric fields but its step, sorted by name."""
    return [
        (k, float(v))
        for k, v in sorted(record.items())
        if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]


def _saved_run_id(run_dir: Path, uri: str) -> str:
    path = Path(run_dir) / RUN_FILE
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    return saved.get("run_id", "") if saved.get("uri") == redact_uri(uri) else ""


def _experiment_id(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # created concurrently by another trial
        return client.get_experiment_by_name(name).experiment_id


def _find_or_create_run(client: Any, cfg: Config, candidates: list[str], run_dir: Path) -> tuple[str, str, bool]:
    """(run id, experiment id, resumed?) reusing the first live candidate run; tagged with its run directory."""
    for run_id in filter(None, candidates):
        try:
            run = client.get_run(run_id)
        except Exception:  # deleted or from another server
            continue
        if run.info.lifecycle_stage == "active":
            client.update_run(run_id, status="RUNNING")
            client.set_tag(run_id, RUN_DIR_TAG, run_dir_tag(run_dir))
            return run_id, run.info.experiment_id, True
    experiment_id = _experiment_id(client, cfg.run.experiment or "cola")
    run = client.create_run(experiment_id, run_name=cfg.run.name or None, tags={RUN_DIR_TAG: run_dir_tag(run_dir)})
    return run.info.run_id, experiment_id, False


def open_tracker(
    cfg: Config, run_dir: Path, known_run_id: str = "", extra_tags: dict[str, str] | None = None
) -> Tracker:
    """Start or continue the run's MLflow run; a NullTracker (after one warning) when MLflow is off or down.

    The MLflow run id is kept in `RUN_DIR/mlflow_run.json`; `known_run_id` (e.g. from the latest
    checkpoint) is tried next, so a resumed or restarted run logs into the same MLflow run. Other
    runs of `run_dir` still RUNNING are ended as KILLED (call it holding the run directory's lock).
    """
    uri = tracking_uri(cfg)
    if not uri:
        return NullTracker()
    reason = probe(uri)
    if reason:
        warn_once(
            f"mlflow-down:{uri}",
            f"MLflow tracking server {redact_uri(uri)} is unreachable ({reason}); "
            "training continues without MLflow, metrics still go to metrics.jsonl",
        )
        return NullTracker()
    tracker: MlflowTracker | None = None
    try:
        tracker = MlflowTracker(TrackingInfo(uri, "", ""))
        run_id, experiment_id, resumed = _find_or_create_run(
            tracker.client, cfg, [_saved_run_id(run_dir, uri), known_run_id], run_dir
        )
        tracker.info = TrackingInfo(uri, run_id, experiment_id)
        atomic_write_json(Path(run_dir) / RUN_FILE, {**asdict(tracker.info), "uri": redact_uri(uri)})
        end_stale_runs(tracker.client, experiment_id, run_dir, keep_run_id=run_id)
    except Exception as err:
        warn_once(
            f"mlflow-failed:{uri}",
            f"MLflow at {redact_uri(uri)} failed ({type(err).__name__}: {err}); "
            "training continues without MLflow, metrics still go to metrics.jsonl",
        )
        return NullTracker()
    log.info("MLflow run %s (%s) at %s", run_id, "continued" if resumed else "new", redact_uri(uri))
    tracker.log_params_and_tags(cfg, extra_tags)
    tracker.log_artifacts([("config", Path(run_dir) / "config.json")])
    if resumed:
        tracker.load_logged_steps()
    return tracker
