"""`jobs.train --workers W --zero S`: Ray Train `TorchTrainer` workers running the loop under DeepSpeed.

Run layout:

    RUN_DIR/...                      as in-process runs (config, tokenizer, metrics.jsonl, model, result)
    RUN_DIR/mlflow_run.json          the MLflow run this run logs into (kept across re-runs)
    <storage>/<run name>/step_N/     Ray Train checkpoints: DeepSpeed shards of every rank,
                                     client_state/rank_R.pt, cola_meta.json, export/ at the last step

`<storage>` is `run.storage` (when the config has that field), else `$COLA_STORAGE`, else
`RUN_DIR/ray`; it may be an `s3://` URI. Re-running with the same run name and storage resumes
from the latest checkpoint (Train V2 reloads the run's checkpoint manager); within one run,
`FailureConfig(max_failures)` restarts the worker group from the latest checkpoint after a worker
dies. The driver owns the run directory: workers send metrics to a recorder actor on this node, and
the consolidated model comes from the final checkpoint's `export/`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cola_core.config import Config
from cola_core.train.loop import LoopResult
from cola_platform import storage as st
from cola_platform.data.manifest import Manifest
from cola_platform.data.ray_ingest import INGEST_MODES, train_datasets
from cola_platform.errors import UserError
from cola_platform.tracking.mlflow_tracker import open_tracker
from cola_platform.tracking.recorder import start_recorder
from cola_platform.tracking.redact import redact_uri
from cola_platform.training.local import prepare_run_dir
from cola_platform.training.result import build_result
from cola_platform.training.run_dir import RunDir
from cola_platform.training.worker import EXPORT_FILE, META_FILE, FaultPlan, WorkerArgs, train_loop_per_worker

log = logging.getLogger(__name__)

STORAGE_ENV = "COLA_STORAGE"
MAX_FAILURES_ENV = "COLA_MAX_FAILURES"
INGEST_ENV = "COLA_INGEST"
DEEPSPEED_ENV = "COLA_DEEPSPEED_CONFIG"
"""JSON deep-merged into the generated DeepSpeed config (e.g. offload settings)."""
WORKER_CPUS = 0.99
_STEP_DIR = re.compile(r"step_(\d+)$")
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"
FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION")


@dataclass
class DistributedOptions:
    """Knobs of one distributed run beyond the config (None: config field, env var, default)."""

    max_failures: int | None = None
    ingest: str | None = None
    """`split` (Ray Data streaming_split) or `strided` (single-process order; see ray_ingest)."""
    deepspeed: dict[str, Any] = field(default_factory=dict)
    fault: FaultPlan | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    """Extra MLflow tags (e.g. `mlflow.parentRunId` for a sweep trial)."""
    callbacks: list[Any] = field(default_factory=list)
    """Ray Train `RunConfig(callbacks=...)`, e.g. `TuneReportCallback()` when a Tune trial drives the run."""


def _setting(cfg_value: Any, env: str, default: Any) -> Any:
    if cfg_value not in (None, ""):
        return cfg_value
    return os.environ.get(env) or default


@dataclass(frozen=True)
class Storage:
    """Where Ray Train keeps a run's checkpoints: a local directory or an s3:// prefix."""

    uri: str

    def ray_args(self) -> dict[str, Any]:
        """`storage_path` (+ `storage_filesystem` for S3, so custom endpoints work) for RunConfig."""
        if not st.is_remote(self.uri):
            return {"storage_path": self.uri}
        import pyarrow.fs

        fs, path = st.filesystem(self.uri)
        return {"storage_path": path, "storage_filesystem": pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))}

    def checkpoints(self, name: str) -> list[tuple[int, str]]:
        """(step, uri) of the run's checkpoint directories, ascending."""
        fs, path = st.filesystem(st.join(self.uri, name))
        try:
            entries = fs.ls(path, detail=False) if fs.exists(path) else []
        except (FileNotFoundError, OSError):
            return []
        found = [(int(m.group(1)), st.join(self.uri, name, m.group(0))) for e in entries
                 if (m := _STEP_DIR.search(str(e).rstrip("/")))]
        return sorted(found)


def resolve_storage(cfg: Config, run: RunDir) -> Storage:
    """`run.storage` if the config has it, else $COLA_STORAGE, else RUN_DIR/ray."""
    uri = _setting(getattr(cfg.run, "storage", ""), STORAGE_ENV, str(run.root / "ray"))
    return Storage(uri if st.is_remote(uri) else str(Path(uri).expanduser().absolute()))


def read_meta(checkpoint_uri: str) -> dict[str, Any]:
    """A checkpoint's cola_meta.json ({} when missing)."""
    try:
        return json.loads(st.read_text(st.join(checkpoint_uri, META_FILE)))
    except (UserError, ValueError, OSError):
        return {}


def ensure_ray() -> None:
    """Connect to the cluster this driver belongs to, or start a local instance (dashboard on)."""
    import ray

    if ray.is_initialized():
        return
    from cola_platform.cluster.connect import ray_driver_address

    address = ray_driver_address()
    if address:
        ray.init(address=address)
        return
    # A local instance is one node that nothing drains or preempts: Ray Train's preemption watcher
    # (one more actor process per run) has nothing to watch.
    os.environ.setdefault(PREEMPTION_WATCHER_ENV, "0")
    env = {k: os.environ[k] for k in (*FORWARDED_ENV, PREEMPTION_WATCHER_ENV) if os.environ.get(k)}
    ray.init(address="local", include_dashboard=True, runtime_env={"env_vars": env} if env else None)


def _trainer(cfg: Config, args: WorkerArgs, storage: Storage, options: DistributedOptions) -> Any:
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    t = cfg.train
    cuda = t.device == "cuda"
    max_failures = options.max_failures
    if max_failures is None:
        max_failures = int(_setting(getattr(t, "max_failures", None), MAX_FAILURES_ENV, 2))
    datasets, data_config = train_datasets(cfg.data.path, args.manifest, args.ingest, t.seed, cfg.data.shuffle)
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"args": args},
        scaling_config=ScalingConfig(num_workers=t.workers, use_gpu=cuda, resources_per_worker={"CPU": WORKER_CPUS}),
        torch_config=TorchConfig(backend="nccl" if cuda else "gloo"),
        run_config=RunConfig(name=cfg.run.name, failure_config=FailureConfig(max_failures=max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=max(1, t.keep_checkpoints)),
                             callbacks=list(options.callbacks) or None, **storage.ray_args()),
        datasets=datasets,
        dataset_config=data_config,
    )


def fetch_export(storage: Storage, name: str, run: RunDir) -> int:
    """Copy the newest checkpoint's consolidated model into RUN_DIR/model.safetensors; returns its step."""
    for step, uri in reversed(storage.checkpoints(name)):
        fs, path = st.filesystem(st.join(uri, EXPORT_FILE))
        if fs.exists(path):
            tmp = run.model.with_suffix(".tmp")
            fs.get(path, str(tmp))
            tmp.replace(run.model)
            return step
    raise UserError(f"no checkpoint of run {name!r} in {redact_uri(storage.uri)} holds {EXPORT_FILE}")


def _options_from_env(options: DistributedOptions, cfg: Config) -> tuple[str, dict[str, Any]]:
    ingest = options.ingest or _setting(getattr(cfg.data, "ingest", ""), INGEST_ENV, "split")
    if ingest not in INGEST_MODES:
        raise UserError(f"ingest mode {ingest!r} must be one of {', '.join(INGEST_MODES)}")
    overrides = dict(options.deepspeed)
    if os.environ.get(DEEPSPEED_ENV):
        try:
            overrides = {**json.loads(os.environ[DEEPSPEED_ENV]), **overrides}
        except ValueError as err:
            raise UserError(f"${DEEPSPEED_ENV} is not valid JSON ({err})") from None
    return ingest, overrides


def train_distributed(cfg: Config, out: Path, manifest: Manifest,
                      options: DistributedOptions | None = None) -> dict[str, Any]:
    """Train `cfg` with `cfg.train.workers` Ray Train workers into run directory `out`; returns result.json.

    Resumes from the run's latest checkpoint in its storage; raises UserError when the workers
    fail more than `max_failures` times (re-running the same command then resumes).
    """
    options = options or DistributedOptions()
    if cfg.train.workers < 1:
        raise UserError("train.workers must be >= 1 for distributed training (0 trains in this process)")
    cfg.run.name = cfg.run.name or f"train-{cfg.run.family}-{cfg.run.preset}-{cfg.hash()}"
    run = RunDir(Path(out).absolute())
    prepare_run_dir(cfg, run, manifest)
    ingest, ds_overrides = _options_from_env(options, cfg)
    ensure_ray()
    import ray

    storage = resolve_storage(cfg, run)
    existing = storage.checkpoints(cfg.run.name)
    meta = read_meta(existing[-1][1]) if existing else {}
    tracker = open_tracker(cfg, run.root, known_run_id=meta.get("mlflow_run_id", ""), extra_tags=options.extra_tags)
    recorder = start_recorder(run.root, tracker.info)
    worker_meta = {"mlflow_run_id": tracker.info.run_id if tracker.info else "", "run_name": cfg.run.name}
    args = WorkerArgs(cfg=cfg.to_dict(), manifest=manifest, recorder=recorder, ingest=ingest, deepspeed=ds_overrides,
                      meta=worker_meta, fault=options.fault)
    log.info("training %s with %d Ray Train workers, ZeRO-%d, storage %s%s", cfg.run.name, cfg.train.workers,
             cfg.train.zero_stage, redact_uri(storage.uri), f" (resuming from step {existing[-1][0]})" if existing else "")
    start = time.perf_counter()
    try:
        _trainer(cfg, args, storage, options).fit()
        report = ray.get(recorder.report.remote())
    except Exception as err:
        tracker.end("FAILED")
        raise UserError(f"distributed training of {cfg.run.name} failed ({type(err).__name__}: {err}); re-run the "
                        "same command to resume from its latest checkpoint") from err
    finally:
        ray.kill(recorder)
    if report["summary"] is None:
        raise UserError(f"distributed training of {cfg.run.name} ended without a summary from rank 0")
    export_step = fetch_export(storage, cfg.run.name, run)
    resume_steps = report["resume_steps"]
    result = build_result(cfg, LoopResult(**report["summary"]), world_size=cfg.train.workers, extra={
        "resumed_from_step": resume_steps[0] if resume_steps else 0,
        "restarts": max(0, len(resume_steps) - 1),
        "restart_steps": resume_steps[1:],
        "run_dir": str(run.root),
        "storage": redact_uri(st.join(storage.uri, cfg.run.name)),
        "export_step": export_step,
        "ingest": ingest,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "mlflow_run_id": worker_meta["mlflow_run_id"],
    })
    run.write_result(result)
    tracker.finish(result, run.root)
    return result
