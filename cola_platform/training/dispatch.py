"""One entry point for "train this config into that directory": Ray Train workers or this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from cola_core.config import Config
from cola_platform.data.manifest import read_manifest
from cola_platform.training.run_dir import RunDir


def train_config(cfg: Config, out: Path, tags: dict[str, str] | None = None,
                 on_record: Callable[[dict[str, Any]], None] | None = None, report_to_tune: bool = False) -> dict[str, Any]:
    """Train `cfg` into run directory `out` and return its result.json.

    A finished run is returned as is; an unfinished one resumes from its latest checkpoint.
    `cfg.train.workers > 0` trains on Ray Train workers (with `report_to_tune`, their reports also
    reach the enclosing Tune trial); 0 trains in this process (`on_record` sees every metrics record).
    Extra MLflow `tags` (e.g. `mlflow.parentRunId` of a study) go on the run's MLflow run.
    """
    run = RunDir(Path(out))
    if run.finished():
        return run.read_result()
    manifest = read_manifest(cfg.data.path)
    if cfg.train.workers > 0:
        from cola_platform.training.distributed import DistributedOptions, train_distributed

        callbacks = []
        if report_to_tune:
            from ray.tune.integration.ray_train import TuneReportCallback

            callbacks.append(TuneReportCallback())
        return train_distributed(cfg, Path(out), manifest, DistributedOptions(extra_tags=tags or {}, callbacks=callbacks))
    from cola_core.train.loop import LoopHooks
    from cola_platform.training.local import train_in_process

    hooks = LoopHooks(on_record=[on_record] if on_record else [])
    return train_in_process(cfg, Path(out), manifest, hooks, extra_tags=tags)
