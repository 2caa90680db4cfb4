"""A DeepSpeed (ZeRO 0-3) implementation of the training loop's `Engine` protocol.

The loop calls `forward_backward` `grad_accum` times and then `step(lrs)`; DeepSpeed wants
`engine.step()` after *every* micro-batch (it counts micro-steps and only updates at the
accumulation boundary), so the non-final micro-batches step DeepSpeed inside `forward_backward`.

The optimizer is the loop's own (`optim.name`: torch AdamW, or Muon + AdamW) over the family's named
parameter groups (kept as a client optimizer, hence `zero_allow_untested_optimizer`), so per-group
learning rates (Cola's DiT vs VAE) work under every ZeRO stage: the wrapped optimizer's `param_groups`
keep their `name`. Muon runs at ZeRO-0 only (it orthogonalises whole matrices; `validate` refuses 1-3).

CPU: `DS_ACCELERATOR=cpu`, gloo (Ray Train's process group), fp32. GPU: nccl, bf16 when
`train.precision=bf16`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from cola_core.config import Config
from cola_core.registry import LossOutput
from cola_core.train.optimizers import build_optimizer
from cola_core.train.objective_module import ObjectiveModule
from cola_platform.training.export import save_fp32

log = logging.getLogger(__name__)

TAG = "ckpt"
"""DeepSpeed checkpoint tag inside every checkpoint directory."""
CLIENT_STATE_DIR = "client_state"
"""Per-rank loop state (step, data position, this rank's RNG), next to DeepSpeed's files."""


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` updated recursively with `extra` (a new dict)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def ds_config(cfg: Config, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The DeepSpeed config for `cfg`: micro-batch, accumulation, clipping, ZeRO stage, precision.

    Clipping is done by the engine itself at ZeRO stage 0 (DeepSpeed does not report the norm
    there), and by DeepSpeed (which reports the global pre-clip norm) at stages 1-3.
    """
    t = cfg.train
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": t.micro_batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "gradient_clipping": cfg.optim.grad_clip if t.zero_stage > 0 else 0.0,
        "zero_optimization": {"stage": t.zero_stage},
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": t.precision == "bf16"},
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
    }
    return deep_merge(config, overrides or {})


def setup_accelerator(cfg: Config) -> None:
    """Select DeepSpeed's accelerator before it is first imported (CPU unless training on CUDA)."""
    if cfg.train.device == "cpu":
        os.environ["DS_ACCELERATOR"] = "cpu"
        if cfg.train.precision == "bf16":
            log.warning("train.precision=bf16 on CPU: bf16 matmuls are ~100x slower than fp32 on this kind of CPU")


STALE_BUILD_LOCK_S = 900.0
"""A torch-extension build lock older than this belongs to a build that died (builds take ~1 min)."""


def clear_stale_build_locks(max_age_s: float = STALE_BUILD_LOCK_S) -> list[Path]:
    """Remove torch-extension build locks left by a killed build; returns what was removed.

    DeepSpeed JIT-builds an op (on CPU its shared-memory all-reduce) when its process group starts;
    torch guards the build with a `lock` file that every later process waits on *forever* if the
    builder was killed (e.g. by the OOM killer), which hung every distributed run on the machine.
    """
    from torch.utils.cpp_extension import get_default_build_root

    root = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or get_default_build_root())
    removed = []
    for lock in root.glob("*/*/lock") if root.is_dir() else []:
        try:
            age = time.time() - lock.stat().st_mtime
            if age > max_age_s:
                lock.unlink()
                removed.append(lock)
                log.warning(
                    "removed %s: a torch-extension build lock %.0f min old, left by a build that died", lock, age / 60
                )
        except FileNotFoundError:
            pass
    return removed


SHM_COMM_OP = "deepspeed_shm_comm"
"""DeepSpeed's CPU shared-memory all-reduce op, used only by DeepSpeed-Inference (`inference_all_reduce`)."""


def import_deepspeed() -> Any:
    """`import deepspeed` without the MLflow import its autotuner does at import time, and without
    the JIT build of its CPU shared-memory all-reduce op.

    The MLflow import costs ~2.3 CPU-seconds in every Ray Train worker of every run and training never
    uses the autotuner; MLflow stays importable afterwards (the entry is removed again). The op is
    compiled by DeepSpeed's process-group start on CPU, 60-150 s on 2 cores, once per machine and
    again whenever another virtualenv (another checkout) used the shared torch-extensions directory,
    and only DeepSpeed-Inference's tensor-parallel all-reduce calls it: training reduces through
    torch.distributed (gloo). Marking it incompatible makes DeepSpeed skip the build.
    """
    import sys

    clear_stale_build_locks()
    if "deepspeed" in sys.modules or "mlflow" in sys.modules:
        import deepspeed
    else:
        sys.modules["mlflow"] = None  # type: ignore[assignment]  # `import mlflow` raises ImportError
        try:
            import deepspeed
        finally:
            del sys.modules["mlflow"]
    deepspeed.ops.__compatible_ops__[SHM_COMM_OP] = False
    return deepspeed


UNIVERSAL_TAG = f"{TAG}_universal"
"""Tag of a checkpoint converted to DeepSpeed's universal format (one file per parameter and state)."""


def to_universal(checkpoint: Path, out: Path) -> None:
    """Convert a ZeRO-1/2/3 checkpoint directory (`.../TAG`) of any world size into DeepSpeed's universal
    format in `out` (each parameter's fp32 weights and Adam moments whole), in this process, quietly.

    Our checkpoints do not carry the Megatron-style `universal_checkpoint_info`; the converter adds
    its default (no tensor or pipeline parallelism), which is what they are.
    """
    import argparse
    import io

    from deepspeed.checkpoint import ds_to_universal

    args = argparse.Namespace(
        input_folder=str(checkpoint),
        output_folder=str(out),
        num_extract_workers=1,  # 1: no process pool (forking a Ray worker is unsafe), and the model is whole
        num_merge_workers=1,
        keep_temp_folder=False,
        strict=True,
        inject_missing_state=True,
    )
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        ds_to_universal.main(args)


def _rank() -> int:
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


class DeepSpeedEngine:
    """The loop's `Engine` over `deepspeed.initialize(module, client AdamW, ds_config(cfg))`."""

    def __init__(
        self, module: ObjectiveModule, groups: list[dict], cfg: Config, overrides: dict[str, Any] | None = None
    ):
        deepspeed = import_deepspeed()
        self.module = module
        self.group_names = sorted({g["name"] for g in groups})
        self.zero_stage = cfg.train.zero_stage
        self.grad_accum = cfg.train.grad_accum
        self.grad_clip = cfg.optim.grad_clip
        self.config = ds_config(cfg, overrides)
        optimizer = build_optimizer(groups, cfg)
        self.ds, self.optimizer, _, _ = deepspeed.initialize(model=module, optimizer=optimizer, config=self.config)
        if cfg.train.compile:
            self.ds.compile()
        self._params = [p for g in groups for p in g["params"]]
        self._micro = 0

    def forward_backward(self, tokens: torch.Tensor, step: int) -> LossOutput:
        """One micro-batch through DeepSpeed: forward, backward (scaled by 1/accum inside DeepSpeed)."""
        out = self.ds(tokens.to(self.ds.device), step)
        self.ds.backward(out.loss)
        self._micro += 1
        if self._micro < self.grad_accum:
            self.ds.step()  # not a boundary: DeepSpeed only advances its micro-step counter
        return out

    def step(self, lrs: dict[str, float]) -> float:
        """Set each named group's lr and take the optimizer step; returns the pre-clip global grad norm."""
        for group in self.optimizer.param_groups:
            group["lr"] = lrs[group["name"]]
        norm: Any = None
        if self.zero_stage == 0:  # gradients are already all-reduced at the boundary backward
            max_norm = self.grad_clip if self.grad_clip > 0 else float("inf")
            norm = torch.nn.utils.clip_grad_norm_(self._params, max_norm)
        self.ds.step()
        self._micro = 0
        if norm is None:
            norm = self.ds.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def save(self, directory: Path, client_state: dict[str, Any]) -> None:
        """Every rank: DeepSpeed's sharded checkpoint plus this rank's loop state (RNG differs per rank)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.ds.save_checkpoint(
            str(directory), tag=TAG, client_state={"step": client_state.get("loop", {}).get("step")}
        )
        own = directory / CLIENT_STATE_DIR
        own.mkdir(exist_ok=True)
        torch.save(client_state, own / f"rank_{_rank()}.pt")

    def load(self, directory: Path, universal: bool = False) -> dict[str, Any]:
        """Every rank: restore weights, optimizer and ZeRO partitions; returns this rank's loop state.

        `universal`: the checkpoint was written at another world size or ZeRO stage; it is converted
        into a local temp directory first and loaded from there (the engine was built with
        `checkpoint.load_universal`).
        """
        directory = Path(directory)
        with tempfile.TemporaryDirectory(prefix="cola-universal-") as tmp:
            load_dir, tag = directory, TAG
            if universal:
                started = time.perf_counter()
                to_universal(directory / TAG, Path(tmp) / UNIVERSAL_TAG)
                load_dir, tag = Path(tmp), UNIVERSAL_TAG
                log.info(
                    "rank %d: converted %s to a universal checkpoint in %.1f s",
                    _rank(),
                    directory.name,
                    time.perf_counter() - started,
                )
            path, _ = self.ds.load_checkpoint(str(load_dir), tag=tag)
        if path is None:
            raise FileNotFoundError(f"{directory} holds no DeepSpeed checkpoint tagged {TAG!r}")
        own = directory / CLIENT_STATE_DIR / f"rank_{_rank()}.pt"
        if not own.is_file():  # restarted with more ranks than saved: fall back to rank 0's state
            own = directory / CLIENT_STATE_DIR / "rank_0.pt"
        return torch.load(own, weights_only=False)

    @contextlib.contextmanager
    def gathered(self):
        """Full parameters on every rank for the duration (a collective under ZeRO-3; no-op otherwise)."""
        if self.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(self.module.parameters()), modifier_rank=None):
                yield
        else:
            yield

    def export(self, path: Path) -> None:
        """All ranks call; rank 0 writes the consolidated fp32 weights of `module.model` to `path`."""
        with self.gathered():
            if _rank() == 0:
                save_fp32(self.module.model, Path(path))
