"""`jobs.train --workers W --zero S`: Ray Train `TorchTrainer` workers running the loop under DeepSpeed.

Run layout:

    RUN_DIR/...                      as in-process runs (config, tokenizer, metrics.jsonl, model, result)
    RUN_DIR/mlflow_run.json          the MLflow run this run logs into (kept across re-runs)
    <storage>/<run name>/step_N/     Ray Train checkpoints: DeepSpeed shards of every rank,
                                     client_state/rank_R.pt, cola_meta.json, export/ at the last step,
                                     checkpoint.rank_R.json (each rank's files: size + sha256)
    <storage>/<run name>/skipped/    checkpoints a resume passed over (damaged or incomplete)

`train_stages` trains several stages in one Ray Train run, i.e. one worker group: Cola's Stage 1 and
Stage 2 (the second *continues* from the first's weights), or the independent runs of a scaling
study's points. Each stage keeps its own run directory, result.json and MLflow run, and the shared
storage names its checkpoints `stage<k>_step_N`.

`<storage>` is `run.storage` (when the config has that field), else `$COLA_STORAGE`, else
`RUN_DIR/ray`; it may be an `s3://` URI. Re-running with the same run name and storage resumes
from the newest checkpoint whose files match their manifests (`resume_choice`: Train V2 reloads the
run's checkpoint manager, told to forget the damaged ones); within one run,
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
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cola_core.config import Config
from cola_core.train.loop import LoopResult
from cola_platform import storage as st
from cola_platform.data.manifest import Manifest
from cola_platform.data.ray_env import ensure_ray
from cola_platform.data.ray_ingest import INGEST_MODES, train_datasets
from cola_platform.errors import UserError
from cola_platform.tracking.mlflow_tracker import open_tracker
from cola_platform.tracking.recorder import start_recorder
from cola_platform.tracking.redact import redact_uri
from cola_platform.training.feasibility import check_workers_fit
from cola_platform.training.local import prepare_run_dir
from cola_platform.faults.fault_plan import FaultPlan
from cola_platform.training.elastic import Layout, check_zero_change, keep_run_identity
from cola_platform.training.phases import phase_seconds
from cola_platform.training.result import build_result
from cola_platform.training.resume_choice import resume_checkpoint
from cola_platform.training.run_dir import RunDir
from cola_platform.training.run_lock import lock_runs
from cola_platform.training.worker import (
    CHECKPOINT_ORDER,
    EXPORT_FILE,
    META_FILE,
    StageArgs,
    WorkerArgs,
    stage_prefix,
    train_loop_per_worker,
)

log = logging.getLogger(__name__)

STORAGE_ENV = "COLA_STORAGE"
DEEPSPEED_ENV = "COLA_DEEPSPEED_CONFIG"
"""JSON deep-merged into the generated DeepSpeed config (e.g. offload settings)."""
WORKER_CPUS = 0.99
_STEP_DIR = re.compile(r"(?:^|/)((?:stage\d+_)?)step_(\d+)$")


@dataclass
class DistributedOptions:
    """Knobs of one distributed run beyond the config (None: the config's field)."""

    max_failures: int | None = None
    ingest: str | None = None
    """`split` (Ray Data streaming_split) or `strided` (single-process order; see ray_ingest)."""
    deepspeed: dict[str, Any] = field(default_factory=dict)
    fault: FaultPlan | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    """Extra MLflow tags (e.g. `mlflow.parentRunId` for a sweep trial)."""
    callbacks: list[Any] = field(default_factory=list)
    """Ray Train `RunConfig(callbacks=...)`, e.g. `IntermediateTuneReports` when a Tune trial drives the run."""


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

    def checkpoints(self, name: str, prefix: str = "") -> list[tuple[int, str]]:
        """(step, uri) of the run's checkpoint directories of one stage (`stage_prefix`), ascending."""
        fs, path = st.filesystem(st.join(self.uri, name))
        try:
            entries = fs.ls(path, detail=False) if fs.exists(path) else []
        except (FileNotFoundError, OSError):
            return []
        found = [
            (int(m.group(2)), st.join(self.uri, name, m.group(0).lstrip("/")))
            for e in entries
            if (m := _STEP_DIR.search(str(e).rstrip("/"))) and m.group(1) == prefix
        ]
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


def _trainer(cfg: Config, name: str, args: WorkerArgs, storage: Storage, options: DistributedOptions) -> Any:
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    t = cfg.train
    cuda = t.device == "cuda"
    max_failures = t.max_failures if options.max_failures is None else options.max_failures
    datasets, data_config = train_datasets(cfg.data.path, args.manifest, args.ingest, t.seed, cfg.data.shuffle)
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"args": args},
        scaling_config=ScalingConfig(num_workers=t.workers, use_gpu=cuda, resources_per_worker={"CPU": WORKER_CPUS}),
        torch_config=TorchConfig(backend="nccl" if cuda else "gloo"),
        run_config=RunConfig(
            name=name,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(
                num_to_keep=max(1, t.keep_checkpoints) + len(args.stages) - 1,
                checkpoint_score_attribute=CHECKPOINT_ORDER,
            ),
            callbacks=list(options.callbacks) or None,
            **storage.ray_args(),
        ),
        datasets=datasets,  # type: ignore[arg-type]  # Ray takes a dict (invariant) where a Mapping would do
        dataset_config=data_config,
    )


def fetch_export(storage: Storage, name: str, run: RunDir, prefix: str = "") -> int:
    """Copy the newest checkpoint's consolidated model (of the stage with checkpoint-name `prefix`)
    into RUN_DIR/model.safetensors; returns its step."""
    for step, uri in reversed(storage.checkpoints(name, prefix)):
        fs, path = st.filesystem(st.join(uri, EXPORT_FILE))
        if fs.exists(path):
            tmp = run.model.with_suffix(".tmp")
            fs.get(path, str(tmp))
            tmp.replace(run.model)
            return step
    raise UserError(f"no checkpoint of run {name!r} in {redact_uri(storage.uri)} holds {EXPORT_FILE}")


def _options_from_env(options: DistributedOptions, cfg: Config) -> tuple[str, dict[str, Any]]:
    ingest = options.ingest or cfg.data.ingest
    if ingest not in INGEST_MODES:
        raise UserError(f"ingest mode {ingest!r} must be one of {', '.join(INGEST_MODES)}")
    overrides = dict(options.deepspeed)
    if os.environ.get(DEEPSPEED_ENV):
        try:
            overrides = {**json.loads(os.environ[DEEPSPEED_ENV]), **overrides}
        except ValueError as err:
            raise UserError(f"${DEEPSPEED_ENV} is not valid JSON ({err})") from None
    return ingest, overrides


def train_distributed(
    cfg: Config, out: Path, manifest: Manifest, options: DistributedOptions | None = None
) -> dict[str, Any]:
    """Train `cfg` with `cfg.train.workers` Ray Train workers into run directory `out`; returns result.json.

    Resumes from the run's latest checkpoint in its storage; raises UserError when the workers
    fail more than `max_failures` times (re-running the same command then resumes).
    """
    return train_stages([cfg], [out], manifest, options)[0]


SHARED_GROUP_FIELDS = ("data.path", "data.shuffle", "train.workers", "train.device", "train.seed", "train.threads")
"""Config fields that decide the worker group and the dataset: runs in one Ray Train run must agree on them."""


def shared_group_key(cfg: Config) -> tuple[str, ...]:
    """The values of `SHARED_GROUP_FIELDS` (equal keys: the runs can share one Ray Train run)."""
    return tuple(
        str(getattr(getattr(cfg, section), key)) for section, key in (f.split(".") for f in SHARED_GROUP_FIELDS)
    )


def _check_stages(cfgs: list[Config]) -> None:
    """Stages share one worker group and one dataset: the fields that decide those must agree."""
    if cfgs[0].train.workers < 1:
        raise UserError("train.workers must be >= 1 for distributed training (0 trains in this process)")
    keys = [shared_group_key(c) for c in cfgs]
    for i, field_name in enumerate(SHARED_GROUP_FIELDS):
        values = {key[i] for key in keys}
        if len(values) > 1:
            raise UserError(f"stages trained in one Ray Train run need the same {field_name}, got {sorted(values)}")


def train_stages(
    cfgs: list[Config],
    outs: list[Path],
    manifest: Manifest,
    options: DistributedOptions | None = None,
    stage_tags: list[dict[str, str]] | None = None,
    continues: list[bool] | None = None,
    name: str = "",
) -> list[dict[str, Any]]:
    """Train stages in order in one Ray Train run (one worker group) named `name` (default: the last
    stage's run name). A stage k with `continues[k]` starts from the weights stage k-1 ended with
    (its config names `outs[k-1]` as `run.init_from`); the others start from their own configs.
    Default: every stage after the first continues (Cola's Stage 1 then Stage 2). Every stage gets
    its own run directory `outs[k]`, result.json and MLflow run (`stage_tags[k]` added to its tags).

    Resumes from the run's latest checkpoint, in whichever stage it belongs to; raises UserError when
    the workers fail more than `max_failures` times (re-running the same call then resumes).
    """
    options = options or DistributedOptions()
    continues = continues if continues is not None else [k > 0 for k in range(len(cfgs))]
    if len(continues) != len(cfgs) or (continues and continues[0]):
        raise ValueError("continues needs one flag per stage, and the first stage has nothing to continue from")
    _check_stages(cfgs)
    runs = [RunDir(Path(out).absolute()) for out in outs]
    with ExitStack() as locks:
        lock_runs(locks, [run.root for run in runs])
        return _train_stages_locked(cfgs, runs, manifest, options, stage_tags, continues, name)


def _train_stages_locked(
    cfgs: list[Config],
    runs: list[RunDir],
    manifest: Manifest,
    options: DistributedOptions,
    stage_tags: list[dict[str, str]] | None,
    continues: list[bool],
    name: str,
) -> list[dict[str, Any]]:
    began = time.time()
    ensure_ray()
    import ray

    check_workers_fit(cfgs[0].train.workers, WORKER_CPUS, 1.0 if cfgs[0].train.device == "cuda" else 0.0)
    for k, cfg in enumerate(cfgs):
        if runs[k].config.is_file():  # a re-run: same name and global batch, at any worker count
            keep_run_identity(cfg, Config.load(runs[k].config))
        cfg.run.name = cfg.run.name or f"train-{cfg.run.family}-{cfg.run.preset}-{cfg.hash()}"
        if continues[k]:  # the weights arrive from the previous stage inside the worker group
            cfg.run.init_from = str(runs[k - 1].root)
        prepare_run_dir(cfg, runs[k], manifest, check=not continues[k])
    name = name or cfgs[-1].run.name
    prefixes = [stage_prefix(k, len(cfgs)) for k in range(len(cfgs))]
    ingest, ds_overrides = _options_from_env(options, cfgs[0])
    storage = resolve_storage(cfgs[-1], runs[-1])
    latest = resume_checkpoint(
        st.join(storage.uri, name),  # the newest valid one; damaged ones set aside
        [uri for p in prefixes for _, uri in storage.checkpoints(name, p)],
    )
    if latest:  # the stage it belongs to loads it into engines of this run's layout
        meta = read_meta(latest)
        check_zero_change(Layout.of_checkpoint(meta), Layout.of_config(cfgs[min(meta.get("stage", 0), len(cfgs) - 1)]))
    trackers, stages = [], []
    for k, cfg in enumerate(cfgs):
        existing = storage.checkpoints(name, prefixes[k])
        meta = read_meta(existing[-1][1]) if existing else {}
        tags = {**options.extra_tags, **(stage_tags[k] if stage_tags else {})}
        trackers.append(open_tracker(cfg, runs[k].root, known_run_id=meta.get("mlflow_run_id", ""), extra_tags=tags))
        stages.append(
            StageArgs(
                cfg=cfg.to_dict(),
                meta={"mlflow_run_id": trackers[-1].info.run_id if trackers[-1].info else "", "run_name": cfg.run.name},
                continues=continues[k],
            )
        )
    recorder = start_recorder([(run.root, tracker.info) for run, tracker in zip(runs, trackers)])
    args = WorkerArgs(
        stages=stages, manifest=manifest, recorder=recorder, ingest=ingest, deepspeed=ds_overrides, fault=options.fault
    )
    log.info(
        "training %s (%d stage(s)) with %d Ray Train workers, ZeRO-%d, storage %s%s",
        name,
        len(cfgs),
        cfgs[0].train.workers,
        cfgs[0].train.zero_stage,
        redact_uri(storage.uri),
        f" (resuming from {latest.rsplit('/', 1)[-1]})" if latest else "",
    )
    start, fit_start = time.perf_counter(), time.time()
    try:
        _trainer(cfgs[0], name, args, storage, options).fit()
        fit_end = time.time()
        reports = ray.get(recorder.report.remote())
    except Exception as err:
        for tracker in trackers:
            tracker.end("FAILED")
        stopped = [r["error"] for r in ray.get(recorder.report.remote()) if r["error"]]
        if stopped:  # a deterministic error ended the run (e.g. max_failures=0 after an unreadable shard)
            raise UserError(stopped[0]) from None
        raise UserError(
            f"distributed training of {name} failed ({type(err).__name__}: {err}); re-run the "
            "same command to resume from its latest checkpoint"
        ) from err
    finally:
        ray.kill(recorder)
    wall = round(time.perf_counter() - start, 2)
    errors = [report["error"] for report in reports if report["error"]]
    if errors:  # deterministic (e.g. a diverged loss): no restart was attempted
        for tracker in trackers:
            tracker.end("FAILED")
        raise UserError(errors[0])
    run_phases, stage_phases = phase_seconds(reports[0]["run_marks"], [r["marks"] for r in reports], fit_start, fit_end)
    run_phases["driver_setup"] = round(fit_start - began, 3)  # Ray connection, run dirs, MLflow runs, recorder
    results = []
    for k, (cfg, run, tracker, report) in enumerate(zip(cfgs, runs, trackers, reports)):
        if report["summary"] is None:
            raise UserError(f"distributed training of {cfg.run.name} ended without a summary from rank 0")
        export_step = fetch_export(storage, name, run, prefixes[k])
        resume_steps = report["resume_steps"]
        result = build_result(
            cfg,
            LoopResult(**report["summary"]),
            world_size=cfg.train.workers,
            extra={
                "resumed_from_step": resume_steps[0] if resume_steps else 0,
                "restarts": max(0, len(resume_steps) - 1),
                "restart_steps": resume_steps[1:],
                "run_dir": str(run.root),
                "storage": redact_uri(st.join(storage.uri, name)),
                "export_step": export_step,
                "ingest": ingest,
                "wall_seconds": wall,
                "run_phases": run_phases,
                "phases": {**stage_phases[k], "steps": round(report["summary"]["train_seconds"], 3)},
                "ray_train_stages": len(cfgs),
                "ray_train_run": name,
                "mlflow_run_id": stages[k].meta["mlflow_run_id"],
            },
        )
        run.write_result(result)
        tracker.finish(result, run.root)
        results.append(result)
    return results
