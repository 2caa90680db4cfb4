"""The Ray Train worker: one data-parallel rank of the family-agnostic loop under DeepSpeed.

One Ray Train run trains one or more *stages* in order (Cola's Stage 1 then Stage 2 share one worker
group, and so do the points of a scaling study); each stage is a full run with its own config, run
directory and MLflow run. A stage that *continues* starts from the weights the previous one ended
with (`run.init_from`, handed over in memory through a local directory); any other stage starts
from its own config (a fresh model, or `run.init_from` on disk). For each stage every rank builds
the same model (same seed), restores the latest Ray Train checkpoint if it belongs to that stage,
streams its Ray Data shard, and runs `run_loop` with hooks that

- all-reduce-average metrics over ranks (so logged losses are global),
- save a checkpoint every `train.ckpt_every` steps: all ranks write DeepSpeed's sharded checkpoint
  plus their own loop state (step, data position, RNG) into a local temp dir, rank 0 adds
  `cola_meta.json` (and, at the last step, the consolidated `export/model.safetensors`), each rank
  lists what it wrote in its manifest (`checkpoint_manifest`), then all ranks
  `ray.train.report(..., checkpoint=...)` into `<storage>/<run name>/step_<N>` and wait until
  Ray Train has committed it,
- send rank 0's metrics records to the run recorder next to the driver (metrics.jsonl + MLflow).

Checkpoints of a multi-stage run are named `stage<k>_step_<N>` and carry their stage in
`cola_meta.json`; a re-run resumes in the stage of the latest checkpoint, or starts the next stage
when that checkpoint is a stage's last (stage-final checkpoints hold the export and are never the
ones Ray Train's retention drops: `checkpoint_order`).

Rank 0's RNG stream equals the single-process one; other ranks re-seed from (seed, rank), so the
random parts of an objective (LLaDA masks, Cola noise) differ across ranks as they should.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from cola_core.config import Config
from cola_core.train.loop import DivergedError, LoopHooks, run_loop
from cola_core.utils.seeding import seed_everything
from cola_platform.allocator import keep_freed_memory
from cola_platform.data.array_stream import ArrayBatchStream, fixed_batches
from cola_platform.data.manifest import Manifest
from cola_platform.data.ray_ingest import DataError, IngestPlan, PeerDataError, RayBatchStream
from cola_platform.data.shards import read_shard, read_split
from cola_platform.faults.fault_plan import FaultPlan
from cola_platform.progress import training_progress
from cola_platform.training.checkpoint_load import load_checkpoint, local_copy
from cola_platform.training.checkpoint_manifest import META_FILE, write_rank_manifest
from cola_platform.training.deepspeed_engine import DeepSpeedEngine, deep_merge, setup_accelerator
from cola_platform.training.elastic import UNIVERSAL_LOAD, Layout, needs_universal, reseed_resume_state
from cola_platform.training.export import save_fp32
from cola_platform.training.setup import Trainable, build_trainable

log = logging.getLogger(__name__)

EXPORT_FILE = "export/model.safetensors"
RANK_SEED_STRIDE = 1_000_003
COMMIT_TIMEOUT_S = 300.0


CHECKPOINT_ORDER = "checkpoint_order"
"""Metric every checkpoint report carries; Ray Train keeps the checkpoints that score highest."""
_STAGE_FINAL_BONUS = 1e15
_STAGE_STRIDE = 1e9


def stage_prefix(stage: int, n_stages: int) -> str:
    """Checkpoint-name prefix of `stage` (0-based): none for a one-stage run, else `stage<k+1>_`."""
    return "" if n_stages == 1 else f"stage{stage + 1}_"


def checkpoint_dir_name(step: int, prefix: str = "") -> str:
    """Name of the checkpoint directory of `step` in the run's Ray storage (sorts by step within a stage)."""
    return f"{prefix}step_{step:08d}"


def checkpoint_order(stage: int, n_stages: int, step: int, stage_final: bool) -> float:
    """Retention score: later is higher, and an earlier stage's last checkpoint outranks everything
    (the next stage may still need its weights, the driver its export)."""
    bonus = _STAGE_FINAL_BONUS if stage_final and stage < n_stages - 1 else 0.0
    return bonus + stage * _STAGE_STRIDE + step


@dataclass
class StageArgs:
    """One stage of a Ray Train run."""

    cfg: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    """Written into every checkpoint's cola_meta.json of this stage (e.g. its MLflow run id)."""
    continues: bool = False
    """Start from the weights the previous stage ended with (Cola's Stage 2 after its Stage 1)."""


@dataclass
class WorkerArgs:
    """Everything the driver hands each worker (through `train_loop_config`)."""

    stages: list[StageArgs]
    manifest: Manifest
    recorder: Any
    """Actor handle of the run recorder (see cola_platform.tracking.recorder)."""
    ingest: str = "split"
    deepspeed: dict[str, Any] = field(default_factory=dict)
    """Overrides deep-merged into the generated DeepSpeed config."""
    fault: FaultPlan | None = None


def _setup_process(cfg: Config, local_world: int) -> None:
    setup_accelerator(cfg)
    keep_freed_memory()
    torch.set_num_threads(cfg.train.threads or max(1, (os.cpu_count() or 1) // max(1, local_world)))
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            datefmt="%H:%M:%S",
        )
    root.setLevel(logging.INFO)


def prepare_on_rank0(trainable: Trainable, cfg: Config, manifest: Manifest, rank: int) -> None:
    """The family's one-off data-dependent set-up (Cola Stage 2 latent stats), then rank 0's buffers everywhere.

    Reads only the first train shards when the family says how many batches it draws (`prepare_batches`).
    """
    t, spec = cfg.train, trainable.spec
    assert spec.prepare is not None  # the only caller checks it first
    if rank == 0:
        batches = spec.prepare_batches(cfg) if spec.prepare_batches is not None else None
        need, arrays = (batches * t.micro_batch_size if batches is not None else None), []
        for shard in manifest.split_shards("train"):
            arrays.append(read_shard(cfg.data.path, shard, manifest.seq_len))
            if need is not None and sum(len(a) for a in arrays) >= need:
                break
        rows = np.concatenate(arrays)
        stream = ArrayBatchStream(rows, min(t.micro_batch_size, len(rows)), t.seed + 1)
        spec.prepare(trainable.model, cfg, stream.next_batch)
    if torch.distributed.is_initialized():
        nccl = torch.distributed.get_backend() == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        for buf in trainable.module.buffers():
            data = buf.data.to(device)
            torch.distributed.broadcast(data, src=0)
            buf.data.copy_(data.to(buf.device))


def rank_seed(seed: int, rank: int) -> int:
    """The seed rank `rank` re-seeds with after building the model (rank 0 keeps the run's stream)."""
    return seed + RANK_SEED_STRIDE * rank


def build_rank(
    cfg: Config, manifest: Manifest, rank: int, fresh: bool, deepspeed_overrides: dict[str, Any] | None = None
) -> tuple[Trainable, DeepSpeedEngine]:
    """One rank's model and engine: same seed and weights everywhere, the family's prepare on a
    fresh run (rank 0's buffers broadcast), then a per-rank RNG stream, then DeepSpeed."""
    seed_everything(cfg.train.seed)
    trainable = build_trainable(cfg)
    if fresh and trainable.spec.prepare is not None:
        prepare_on_rank0(trainable, cfg, manifest, rank)
    if rank > 0:
        seed_everything(rank_seed(cfg.train.seed, rank))
    return trainable, DeepSpeedEngine(trainable.module, trainable.groups, cfg, deepspeed_overrides)


def mean_over_ranks(world: int, device: torch.device) -> Callable[[dict[str, float]], dict[str, float]]:
    """`reduce_metrics` hook: all-reduce-average a metrics dict (same keys on every rank)."""

    def reduce(metrics: dict[str, float]) -> dict[str, float]:
        if world == 1 or not metrics:
            return metrics
        keys = sorted(metrics)
        values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(values)
        return dict(zip(keys, (values / world).tolist()))

    return reduce


class CheckpointReporter:
    """`save_checkpoint` and metrics-report hooks: every rank saves and reports in lockstep."""

    def __init__(
        self, cfg: Config, engine: DeepSpeedEngine, rank: int, meta: dict[str, Any], stage: int = 0, n_stages: int = 1
    ):
        self.cfg, self.engine, self.rank, self.meta = cfg, engine, rank, meta
        self.stage, self.n_stages = stage, n_stages
        self.latest: dict[str, float] = {}

    def is_checkpoint_step(self, step: int) -> bool:
        t = self.cfg.train
        return step >= t.steps or bool(t.ckpt_every and step % t.ckpt_every == 0)

    def on_record(self, record: dict[str, Any]) -> None:
        """Keep the latest numbers; report eval results that no checkpoint will carry (for Tune)."""
        import ray.train

        self.latest.update({k: v for k, v in record.items() if isinstance(v, (int, float))})
        if "eval_loss" in record and not self.is_checkpoint_step(int(record["step"])):
            ray.train.report(dict(self.latest))

    def save(self, step: int, state: dict[str, Any]) -> None:
        """All ranks: sharded checkpoint (+ export at the end) into a temp dir, barrier, report."""
        import ray.train
        from ray.train import Checkpoint

        tmp = Path(tempfile.mkdtemp(prefix=f"cola-ckpt-{step}-"))
        try:
            self.engine.save(tmp, state)
            if step >= self.cfg.train.steps:
                self.engine.export(tmp / EXPORT_FILE)
            world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
            if self.rank == 0:
                meta = {
                    **self.meta,
                    "step": step,
                    "stage": self.stage,
                    "zero_stage": self.cfg.train.zero_stage,
                    "world_size": world,
                }
                (tmp / META_FILE).write_text(json.dumps(meta, sort_keys=True))
            write_rank_manifest(tmp, step, self.rank, world)  # last: lists every file this rank wrote
            if torch.distributed.is_initialized():
                torch.distributed.barrier()
            order = checkpoint_order(self.stage, self.n_stages, step, step >= self.cfg.train.steps)
            ray.train.report(
                {**self.latest, "step": step, CHECKPOINT_ORDER: order},
                checkpoint=Checkpoint.from_directory(str(tmp)),
                checkpoint_dir_name=checkpoint_dir_name(step, stage_prefix(self.stage, self.n_stages)),
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._wait_committed(step)

    @staticmethod
    def _wait_committed(step: int) -> None:
        """Block until the controller has registered the checkpoint (it polls workers every ~2 s; a
        worker that dies before that poll would lose it), so a crash after this resumes from it."""
        import ray.train

        try:
            ray.train.get_all_reported_checkpoints(
                consistency_mode=ray.train.CheckpointConsistencyMode.COMMITTED, timeout_s=COMMIT_TIMEOUT_S
            )
        except Exception as err:  # a slow controller must not stop training
            log.warning("checkpoint of step %d not yet confirmed by Ray Train (%s: %s)", step, type(err).__name__, err)


def _recorder_sink(recorder: Any, stage: int, attempt: int) -> Callable[[dict[str, Any]], None]:
    def sink(record: dict[str, Any]) -> None:
        recorder.record.remote(stage, attempt, record)  # fire and forget; calls from one caller stay ordered

    return sink


def _mark(args: WorkerArgs, rank: int, stage: int | None, name: str) -> None:
    """Rank 0 tells the recorder it reached phase boundary `name` now (fire and forget)."""
    if rank == 0:
        args.recorder.mark.remote(stage, name, time.time())


def _first_record_mark(args: WorkerArgs, stage: int) -> Callable[[dict[str, Any]], None]:
    """`on_record` hook marking the first record of a stage (its first logged step: data + first step done)."""
    seen: list[bool] = []

    def sink(record: dict[str, Any]) -> None:
        if not seen:
            seen.append(True)
            _mark(args, 0, stage, "first_record")

    return sink


class StageStopped(Exception):
    """A stage ended on a deterministic error that the recorder already holds (no Ray Train restart)."""


def checkpoint_meta(checkpoint: Any) -> dict[str, Any]:
    """A Ray Train checkpoint's cola_meta.json, read on its own (not the whole checkpoint, which
    `local_copy` would download from remote storage)."""
    with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{META_FILE}") as f:
        return json.loads(f.read())


def checkpoint_position(checkpoint: Any) -> tuple[int, int]:
    """(stage, step) of a Ray Train checkpoint, from its cola_meta.json (stage 0 when it has none)."""
    meta = checkpoint_meta(checkpoint)
    return int(meta.get("stage", 0)), int(meta["step"])


def hand_over(
    cfg: Config,
    directory: Path,
    weights: Path | None = None,
    engine: DeepSpeedEngine | None = None,
    model: torch.nn.Module | None = None,
) -> str:
    """Write a finished stage's weights (from `weights`, or gathered from the live `engine`/`model`)
    and its config into `directory`, the `run.init_from` of the next stage; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    if weights is not None:
        shutil.copyfile(weights, directory / "model.safetensors")
    else:
        assert engine is not None and model is not None
        with engine.gathered():  # every rank writes its own copy (ranks may not share a disk)
            save_fp32(model, directory / "model.safetensors")
    cfg.save(directory / "config.json")
    return str(directory)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry point: `config["args"]` is a `WorkerArgs`; trains its stages in order."""
    import ray.train

    entered = time.time()
    args: WorkerArgs = config["args"]
    cfgs = [Config.from_dict(s.cfg) for s in args.stages]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    if rank == 0:
        args.recorder.mark.remote(None, "worker_entry", entered)
    _setup_process(cfgs[0], ctx.get_local_world_size())
    _mark(args, rank, None, "process_ready")
    checkpoint = ray.train.get_checkpoint()
    first, init_from = 0, ""
    handoff = Path(tempfile.mkdtemp(prefix="cola-handoff-"))
    try:
        if checkpoint is not None:
            first, step = checkpoint_position(checkpoint)
            if step >= cfgs[first].train.steps and first + 1 < len(cfgs):  # a stage's last checkpoint: next stage
                if args.stages[first + 1].continues:
                    with local_copy(checkpoint) as directory:
                        init_from = hand_over(cfgs[first], handoff / str(first), weights=directory / EXPORT_FILE)
                first, checkpoint = first + 1, None
        for stage in range(first, len(cfgs)):
            cfg = cfgs[stage]
            if args.stages[stage].continues:  # the saved config names the previous run dir; the weights come
                cfg.run.init_from = init_from if checkpoint is None else ""  # from the hand-over
            try:
                trainable, engine = train_stage(args, cfg, stage, checkpoint, rank, world)
            except StageStopped:
                return  # the recorder holds the error; the driver raises it once
            checkpoint = None
            if stage + 1 < len(cfgs) and args.stages[stage + 1].continues:
                init_from = hand_over(cfg, handoff / str(stage), engine=engine, model=trainable.model)
            del trainable, engine
    finally:
        shutil.rmtree(handoff, ignore_errors=True)


def train_stage(
    args: WorkerArgs, cfg: Config, stage: int, checkpoint: Any, rank: int, world: int
) -> tuple[Trainable, DeepSpeedEngine]:
    """Train one stage on this rank (resuming from `checkpoint` when it is this stage's); returns
    its model and engine so the next stage can take over the weights."""
    import ray
    import ray.train

    _mark(args, rank, stage, "stage_start")
    if ray.get(args.recorder.stopped.remote(stage)):  # an earlier attempt hit a deterministic error
        raise StageStopped
    plan = IngestPlan(
        rows=args.manifest.split_rows("train"),
        micro_batch_size=cfg.train.micro_batch_size,
        world_size=world,
        rank=rank,
        mode=args.ingest,
        seed=cfg.train.seed,
        shuffle=cfg.data.shuffle,
    )
    stream = RayBatchStream(ray.train.get_dataset_shard("train"), plan)
    if checkpoint is None:
        stream.prime()  # Ray Data starts while the model and DeepSpeed are set up
    saved, now = (
        Layout.of_checkpoint(checkpoint_meta(checkpoint) if checkpoint else {}),
        Layout(world, cfg.train.zero_stage),
    )
    universal = needs_universal(saved, now)  # written at another world size or ZeRO stage (elastic resume)
    overrides = deep_merge(args.deepspeed, UNIVERSAL_LOAD) if universal else args.deepspeed
    trainable, engine = build_rank(cfg, args.manifest, rank, checkpoint is None, overrides)
    resume_state = None
    if checkpoint is not None:
        with local_copy(checkpoint) as directory:
            resume_state = load_checkpoint(
                engine, Path(directory), lambda message: ray.get(args.recorder.stop.remote(stage, message)), universal
            )
        if saved is not None and saved != now:
            reseed_resume_state(resume_state, cfg.train.seed, rank, RANK_SEED_STRIDE)
    start_step = int(resume_state["loop"]["step"]) if resume_state else 0
    reporter = CheckpointReporter(cfg, engine, rank, args.stages[stage].meta, stage, len(args.stages))
    hooks = LoopHooks(
        on_record=[reporter.on_record],
        save_checkpoint=reporter.save,
        reduce_metrics=mean_over_ranks(world, engine.ds.device),
    )
    attempt = -1
    if rank == 0:
        attempt = ray.get(args.recorder.attempt_started.remote(stage, start_step))
        hooks.on_record += [
            _recorder_sink(args.recorder, stage, attempt),
            training_progress(cfg.train.steps, log),
            _first_record_mark(args, stage),
        ]
    if args.fault is not None and args.fault.rank == rank:
        hooks.on_record.append(args.fault.sink())
    val, device = read_split(cfg.data.path, args.manifest, "validation"), engine.ds.device
    _mark(args, rank, stage, "engine_ready")
    try:
        loop = run_loop(
            cfg,
            trainable.spec,
            engine,
            stream,
            lambda: (b.to(device) for b in fixed_batches(val, cfg.train.micro_batch_size, cfg.train.eval_batches)),
            hooks,
            resume_state,
            world_size=world,
        )
    except DivergedError as err:  # every rank sees the same all-reduced loss: all stop here together
        ray.get(args.recorder.stop.remote(stage, str(err)))
        raise StageStopped from err
    except DataError as err:  # raised on every rank at the same micro-batch: all stop here together
        if not isinstance(err, PeerDataError):
            ray.get(args.recorder.stop.remote(stage, str(err)))
        raise StageStopped from err
    _mark(args, rank, stage, "loop_end")
    if rank == 0:
        ray.get(args.recorder.finished.remote(stage, attempt, asdict(loop)))
    return trainable, engine
