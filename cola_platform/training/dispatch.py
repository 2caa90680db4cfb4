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
    `cfg.train.workers > 0` trains on Ray Train workers (with `report_to_tune`, their reports before
    the last also reach the enclosing Tune trial, which reports its final metrics itself); 0 trains
    in this process (`on_record` sees every metrics record).
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
            from cola_platform.tune.train_reports import IntermediateTuneReports

            callbacks.append(IntermediateTuneReports(final_step=cfg.train.steps))
        return train_distributed(cfg, Path(out), manifest, DistributedOptions(extra_tags=tags or {}, callbacks=callbacks))
    from cola_core.train.loop import LoopHooks
    from cola_platform.training.local import train_in_process

    hooks = LoopHooks(on_record=[on_record] if on_record else [])
    return train_in_process(cfg, Path(out), manifest, hooks, extra_tags=tags)


def train_stage_configs(cfgs: list[Config], outs: list[Path], stage_tags: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Train stages in order (stage k > 0 starts from stage k-1's run, `run.init_from`); returns their result.json.

    With `train.workers > 0` all stages run in one Ray Train run (one worker group, the stage switch
    inside the workers, each stage checkpointed and resumable); in-process, one after the other.
    """
    runs = [RunDir(Path(out)) for out in outs]
    if all(run.finished() for run in runs):
        return [run.read_result() for run in runs]
    if cfgs[0].train.workers > 0 and len(cfgs) > 1:
        from cola_platform.training.distributed import DistributedOptions, train_stages

        return train_stages(cfgs, outs, read_manifest(cfgs[0].data.path), DistributedOptions(), stage_tags)
    results = []
    for k, (cfg, out) in enumerate(zip(cfgs, outs)):
        cfg.run.init_from = str(Path(outs[k - 1]).absolute()) if k else cfg.run.init_from
        results.append(train_config(cfg, Path(out), tags=stage_tags[k]))
    return results
