"""Streaming ingest for Ray Train workers: a `BatchStream` over `ray.train.get_dataset_shard("train")`.

Two sharding modes (`INGEST_MODES`):

- `split` (default): the driver hands Ray Train the train split with
  `DataConfig(datasets_to_split=["train"])`, Ray Data's `streaming_split(world, equal=True)` gives
  every worker an equal share of the rows, and each row is read once per epoch.
- `strided`: every worker iterates the whole split and keeps micro-batches `rank, rank + world, ...`.
  The global batch of step s is then exactly rows `[s*B*W, (s+1)*B*W)` in manifest order, i.e. the
  single-process order (`ArrayBatchStream` with `shuffle=False`), at the cost of reading every row
  on every worker. Used to check distributed runs against in-process ones.

Every worker runs the same number of micro-batches: the epoch length is computed up front from the
manifest's row count (never from what a worker happens to receive), each worker restarts its
epoch iterator after exactly that many batches, and a worker whose iterator runs dry early repeats
its last batch (with a warning) instead of leaving its peers blocked in a collective. The position
(epoch, batches consumed) is part of the checkpoint; a resumed worker restarts that epoch and skips
the consumed batches. Execution preserves order (Ray Data then also ignores locality when
splitting), so a resumed epoch replays the same batches. A checkpoint written at another world size
or micro-batch (elastic resume) is resumed at the same number of sequences into the epoch
(`resume_position`). `data.shuffle` randomises the shard order once (seeded) and shuffles locally
within a small buffer per epoch (seed + epoch).

A shard that fails its checksum is a deterministic error: every rank learns at the same micro-batch
that some rank's read failed (one tiny all-reduce per micro-batch) and all raise together, so no rank
waits in a collective for one that stopped and Ray Train has nothing to restart.

The split is read by `read_split_shards`: one tiny Ray task per shard (`read_shard`, checksum
verified) asking for 0.001 CPU, because Train workers hold 0.99 CPU each and a read that asks for a
whole CPU (as `read_parquet` does) is never scheduled on a small cluster; at most `DATA_READ_TASKS`
of them run at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar, cast

import numpy as np
import torch

from cola_platform.data.manifest import Manifest, ShardInfo
from cola_platform.data.shards import read_shard
from cola_platform.errors import UserError

if TYPE_CHECKING:
    import ray.data
    import ray.train

log = logging.getLogger(__name__)
T = TypeVar("T")

INGEST_MODES = ("split", "strided")
DATA_TASK_CPUS = 0.001
"""CPU request of Ray Data read tasks: Train workers hold whole cores, so reads must fit in what is left."""
DATA_READ_TASKS = 2
"""At most this many shard reads run at once. With a CPU request of 0.001, Ray Data would otherwise
start one read task (a new ~0.2 GB worker process) per shard at once: 74 shards took 16 GB of RAM
and 5 minutes on a 2-core machine before Ray's memory monitor started killing them."""


@dataclass(frozen=True)
class IngestPlan:
    """How one worker's stream walks the train split (identical on every rank except `rank`)."""

    rows: int
    """Sequences in the train split (from the manifest)."""
    micro_batch_size: int
    world_size: int
    rank: int
    mode: str = "split"
    seed: int = 0
    shuffle: bool = False

    @property
    def batches_per_epoch(self) -> int:
        """Micro-batches this worker consumes per epoch (equal on every rank by construction)."""
        if self.mode == "strided":
            return self.rows // (self.micro_batch_size * self.world_size)
        return (self.rows // self.world_size) // self.micro_batch_size

    def check(self) -> None:
        """Refuse splits too small for one micro-batch per worker, and unknown modes."""
        if self.mode not in INGEST_MODES:
            raise UserError(f"ingest mode {self.mode!r} must be one of {', '.join(INGEST_MODES)}")
        if self.batches_per_epoch < 1:
            raise UserError(
                f"the train split has {self.rows} sequences, fewer than one micro-batch of "
                f"{self.micro_batch_size} per worker x {self.world_size} workers; prepare more data"
            )


def tokens_to_tensor(tokens: np.ndarray) -> torch.Tensor:
    """A batch's `tokens` column (a (B, L) tensor column or B int lists) -> (B, L) int64 tensor."""
    if tokens.dtype == object:
        tokens = np.stack(list(tokens))
    return torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64))  # (B, L)


def tokens_collate_fn() -> Any:
    """A Ray Data `NumpyBatchCollateFn` turning the `tokens` column into a (B, L) LongTensor."""
    from ray.data.collate_fn import NumpyBatchCollateFn

    class TokensCollate(NumpyBatchCollateFn):
        # Ray types CollateFn.__call__ as returning its module-level TypeVar `CollatedData`
        def __call__(self, batch: dict[str, np.ndarray]) -> torch.Tensor:  # type: ignore[override]
            return tokens_to_tensor(batch["tokens"])

    return TokensCollate()


class DataError(UserError):
    """A shard that cannot be read as its manifest says (missing, corrupt, wrong shape): reading it
    again gives the same error, so a Ray Train restart would only repeat it."""


_USER_ERROR_LINE = f"{UserError.__module__}.{UserError.__qualname__}: "


def data_error(err: BaseException) -> DataError | None:
    """The `UserError` a Ray Data read task raised, found in the exception Ray Data delivers, as a
    `DataError`; None for anything else (e.g. a storage outage, which a restart may cure).

    It arrives wrapped (`RayTaskError` around Ray Data's `UserCodeException`), and the wrapper's own
    cause does not survive the trip between processes (exceptions pickle without `__cause__`): only
    the remote traceback text still names it, as its `module.UserError: message` line.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = getattr(current, "cause", None)  # RayTaskError keeps the task's exception here
        if isinstance(current, UserError) and not isinstance(cause, BaseException):
            text = str(current).strip().splitlines()
            return DataError(text[-1] if text else type(current).__name__)
        remote = [
            line.split(_USER_ERROR_LINE, 1)[1].strip()
            for line in str(current).splitlines()
            if line.strip().startswith(_USER_ERROR_LINE)
        ]  # a RayTaskError's text holds the remote traceback
        if remote:
            return DataError(remote[-1])
        current = cause if isinstance(cause, BaseException) else (current.__cause__ or current.__context__)
    return None


class PeerDataError(DataError):
    """Raised on a rank whose own data was fine because another rank's data failed at the same micro-batch."""


def agree_on_data_error(error: DataError | None) -> DataError | None:
    """All ranks: `error`, or a `PeerDataError` when only another rank failed (one tiny all-reduce)."""
    device = torch.device("cuda", torch.cuda.current_device()) if dist_backend() == "nccl" else torch.device("cpu")
    flag = torch.tensor([0.0 if error is None else 1.0], device=device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    if error is None and flag.item() > 0:
        return PeerDataError("another rank's train data failed")
    return error


def dist_backend() -> str:
    return str(torch.distributed.get_backend())


class RayBatchStream:
    """`BatchStream` over a Ray Data iterator (a Train dataset shard) with lockstep epochs."""

    def __init__(self, shard: Any, plan: IngestPlan, prefetch_batches: int = 2):
        plan.check()
        self.shard, self.plan, self.prefetch = shard, plan, prefetch_batches
        self.epoch, self.consumed = 0, 0
        self._it: Iterator[torch.Tensor] | None = None
        self._ready: list[torch.Tensor | None] = []
        self._primer: threading.Thread | None = None
        self._primer_error: Exception | None = None
        self._last: torch.Tensor | None = None
        self._warned = False

    def _open_epoch(self) -> None:
        p = self.plan
        self._ready.clear()
        kwargs: dict[str, Any] = {}
        if p.shuffle:  # per-epoch local shuffle on top of the dataset's seeded block order
            kwargs = {
                "local_shuffle_buffer_size": 4 * p.micro_batch_size,
                "local_shuffle_seed": p.seed * 100_003 + self.epoch,
            }
        self._it = iter(
            self.shard.iter_torch_batches(
                batch_size=p.micro_batch_size,
                drop_last=True,
                collate_fn=tokens_collate_fn(),
                prefetch_batches=self.prefetch,
                **kwargs,
            )
        )

    def prime(self) -> None:
        """Start the first epoch's pipeline in a background thread, so Ray Data starts up while the
        caller builds the model and engine instead of inside the first training step."""
        if self._it is None:
            self._open_epoch()
            it = cast(Iterator[torch.Tensor], self._it)  # set by `_open_epoch`

            def first() -> None:
                try:
                    self._ready.append(next(it, None))
                except Exception as err:  # raised to the caller by the next `_raw_next`, never lost
                    self._primer_error = err

            self._primer = threading.Thread(target=first, daemon=True)
            self._primer.start()

    def _raw_next(self) -> torch.Tensor:
        assert self._it is not None
        try:
            if self._primer is not None:
                self._primer.join()
                self._primer = None
                if self._primer_error is not None:
                    raise self._primer_error
            batch = self._ready.pop(0) if self._ready else next(self._it, None)
        except Exception as err:
            found = data_error(err)
            if found is None:
                raise
            raise found from None
        if batch is None or batch.shape[0] != self.plan.micro_batch_size:
            if self._last is None:
                raise UserError("the train data shard of this worker is empty; prepare more data")
            if not self._warned:
                log.warning(
                    "rank %d: data shard ended early in epoch %d (after %d of %d batches); repeating its last "
                    "batch so every worker runs the same steps",
                    self.plan.rank,
                    self.epoch,
                    self.consumed,
                    self.plan.batches_per_epoch,
                )
                self._warned = True
            return self._last
        return batch

    def _take(self) -> torch.Tensor:
        """The next micro-batch that belongs to this rank (strided mode skips the other ranks')."""
        p = self.plan
        if p.mode == "strided":
            for _ in range(p.rank):
                self._raw_next()
            batch = self._raw_next()
            for _ in range(p.world_size - 1 - p.rank):
                self._raw_next()
            return batch
        return self._raw_next()

    def next_batch(self) -> torch.Tensor:
        """The next (micro_batch_size, seq_len) LongTensor of this rank.

        With several ranks, every rank learns whether any rank's data failed before it goes on, so a
        `DataError` is raised on all ranks at the same micro-batch (`PeerDataError` on the ranks whose
        own read succeeded) and none is left waiting in a collective for a rank that stopped.
        """
        return self._together(self._next_own)

    def _together(self, read: Callable[[], T]) -> T:
        """`read()` on every rank; raises on all ranks when any rank's read raised a `DataError`."""
        error: DataError | None = None
        try:
            value = read()
        except DataError as err:
            error = err
        if self.plan.world_size > 1 and torch.distributed.is_initialized():
            error = agree_on_data_error(error)
        if error is not None:
            raise error
        return value

    def _next_own(self) -> torch.Tensor:
        if self._it is None:
            self._open_epoch()
        elif self.consumed >= self.plan.batches_per_epoch:
            self.epoch, self.consumed = self.epoch + 1, 0
            self._open_epoch()
        batch = self._take()
        self._last = batch
        self.consumed += 1
        return batch

    def state(self) -> dict[str, Any]:
        """The data position: epoch and micro-batches of it this rank has consumed (and their layout)."""
        p = self.plan
        return {
            "epoch": self.epoch,
            "consumed": self.consumed,
            "mode": p.mode,
            "world_size": p.world_size,
            "micro_batch_size": p.micro_batch_size,
        }

    def resume_position(self, state: dict[str, Any]) -> int:
        """Micro-batches of the saved epoch this rank skips: the saved count, or, when the checkpoint was
        written at another world size or micro-batch (elastic resume), the same number of sequences
        (consumed x micro-batch x world) in this layout. In `strided` mode sequences are taken in
        manifest order whatever the layout, so the remapped position is exactly where the run stopped."""
        p = self.plan
        consumed = int(state["consumed"])
        saved = (int(state.get("world_size", p.world_size)), int(state.get("micro_batch_size", p.micro_batch_size)))
        if saved == (p.world_size, p.micro_batch_size):
            return consumed
        rows, per_batch = consumed * saved[0] * saved[1], p.world_size * p.micro_batch_size
        if rows % per_batch:
            log.warning(
                "rank %d: %d sequences of epoch %d were consumed, not a whole number of %d-sequence batches at this "
                "layout; skipping %d",
                p.rank,
                rows,
                self.epoch,
                per_batch,
                rows // per_batch * per_batch,
            )
        if p.rank == 0:
            log.info(
                "data position remapped: %d sequences of epoch %d consumed at %d workers x %d -> %d batches per worker "
                "at %d x %d",
                rows,
                self.epoch,
                saved[0],
                saved[1],
                rows // per_batch,
                p.world_size,
                p.micro_batch_size,
            )
        return rows // per_batch

    def load_state(self, state: dict[str, Any]) -> None:
        """Re-open the saved epoch and skip the batches consumed before the checkpoint."""
        if "consumed" not in state:  # a checkpoint from another stream type
            log.warning("checkpoint has no Ray ingest position (%s); starting the data from epoch 0", sorted(state))
            return
        if state.get("mode", self.plan.mode) != self.plan.mode:
            log.warning(
                "checkpoint used ingest mode %r, this run %r: data order will differ", state["mode"], self.plan.mode
            )
        self.epoch, self.consumed = int(state["epoch"]), 0
        target = min(self.resume_position(state), self.plan.batches_per_epoch)
        self._open_epoch()

        def skip() -> None:
            for _ in range(target):
                self._last = self._take()
                self.consumed += 1

        self._together(skip)


def _read_shards(batch: dict[str, np.ndarray], data_uri: str, seq_len: int) -> dict[str, np.ndarray]:
    """Ray Data UDF: shard descriptions -> their sequences (checksums verified), in order."""
    arrays = [
        read_shard(data_uri, ShardInfo(path=str(p), split=str(s), rows=int(r), tokens=int(t), sha256=str(h)), seq_len)
        for p, s, r, t, h in zip(batch["path"], batch["split"], batch["rows"], batch["tokens"], batch["sha256"])
    ]
    return {"tokens": np.concatenate(arrays)}  # (rows, L) int32


def read_split_shards(data_uri: str, manifest: Manifest, split: str) -> "ray.data.Dataset":
    """The split's shards, in manifest order, as a Ray Dataset with a (rows, seq_len) int32 `tokens` column.

    One small Ray task per shard reads it through `read_shard` (local or s3://, checksum checked).
    The tasks ask for a sliver of a CPU (`DATA_TASK_CPUS`): Train workers hold 0.99 CPU each, and a
    Ray Data read that wants a whole CPU (e.g. `read_parquet`'s file listing) never gets scheduled.
    """
    import ray.data

    shards = manifest.split_shards(split)
    if not shards:
        raise UserError(f"{data_uri} has no {split!r} shards; re-run jobs.prepare_data")
    items = [asdict(s) for s in shards]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    return ds.map_batches(
        _read_shards,  # type: ignore[arg-type]  # Ray types a UDF as one-argument; fn_kwargs fills the rest
        batch_size=1,
        num_cpus=DATA_TASK_CPUS,
        compute=ray.data.TaskPoolStrategy(size=DATA_READ_TASKS),
        fn_kwargs={"data_uri": data_uri, "seq_len": manifest.seq_len},
    )


def train_datasets(
    data_uri: str, manifest: Manifest, mode: str, seed: int, shuffle: bool
) -> tuple[dict[str, "ray.data.Dataset"], "ray.train.DataConfig"]:
    """`datasets=` and `dataset_config=` for the TorchTrainer: the train split, split or strided.

    Order is preserved (so a resumed run sees the same batches); with `shuffle`, block order is
    randomised once with the run's seed and each epoch shuffles locally with a per-epoch seed.
    """
    import ray.data
    import ray.train

    # Per-operator progress bars of every worker's stream flood the job log (ray-project/ray#47735).
    ray.data.DataContext.get_current().enable_progress_bars = False
    if mode not in INGEST_MODES:
        raise UserError(f"ingest mode {mode!r} must be one of {', '.join(INGEST_MODES)}")
    ds = read_split_shards(data_uri, manifest, "train")
    if shuffle:
        ds = ds.randomize_block_order(seed=seed)
    options = ray.train.DataConfig.default_ingest_options()
    options.preserve_order = True
    split = ["train"] if mode == "split" else []
    return {"train": ds}, ray.train.DataConfig(datasets_to_split=split, execution_options=options)
