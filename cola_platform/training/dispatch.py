"""One entry point for "train this config into that directory": Ray Train workers or this process."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

from cola_core.config import Config
from cola_platform.data.manifest import read_manifest
from cola_platform.training.run_dir import RunDir


def train_config(
    cfg: Config,
    out: Path,
    tags: dict[str, str] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    report_to_tune: bool = False,
) -> dict[str, Any]:
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
        return train_distributed(
            cfg, Path(out), manifest, DistributedOptions(extra_tags=tags or {}, callbacks=callbacks)
        )
    from cola_core.train.loop import LoopHooks
    from cola_platform.training.local import train_in_process

    hooks = LoopHooks(on_record=[on_record] if on_record else [])
    return train_in_process(cfg, Path(out), manifest, hooks, extra_tags=tags)


def train_stage_configs(
    cfgs: list[Config],
    outs: list[Path],
    stage_tags: list[dict[str, str]],
    continues: list[bool] | None = None,
    name: str = "",
) -> list[dict[str, Any]]:
    """Train runs in order and return their result.json; run k with `continues[k]` starts from run k-1's
    weights (`run.init_from`), by default every run after the first (Cola's Stage 1 then Stage 2).

    Finished runs are read, not retrained; a run whose predecessor finished earlier starts from that
    run's directory. With `train.workers > 0` the unfinished runs share one Ray Train run (one worker
    group, the switch between runs inside the workers, each run checkpointed and resumable) named
    `name` (default: the last run's name), suffixed with a digest of the unfinished runs when some
    finished earlier, so that a different set of runs never resumes another set's checkpoints.
    In-process (`train.workers == 0`), one after the other.
    """
    continues = continues if continues is not None else [k > 0 for k in range(len(cfgs))]
    runs = [RunDir(Path(out)) for out in outs]
    todo = [k for k, run in enumerate(runs) if not run.finished()]
    for k in todo:
        if continues[k]:
            cfgs[k].run.init_from = str(Path(outs[k - 1]).absolute())
    if todo and cfgs[0].train.workers > 0:
        from cola_platform.training.distributed import DistributedOptions, train_stages

        name = name or cfgs[-1].run.name
        if len(todo) < len(cfgs):
            name += "-" + hashlib.sha256(",".join(cfgs[k].run.name for k in todo).encode()).hexdigest()[:8]
        trained = train_stages(
            [cfgs[k] for k in todo],
            [Path(outs[k]) for k in todo],
            read_manifest(cfgs[0].data.path),
            DistributedOptions(),
            [stage_tags[k] for k in todo],
            continues=[continues[k] and k - 1 in todo for k in todo],
            name=name,
        )
        fresh = dict(zip(todo, trained))
    else:
        fresh = {k: train_config(cfgs[k], Path(outs[k]), tags=stage_tags[k]) for k in todo}
    return [fresh[k] if k in fresh else run.read_result() for k, run in enumerate(runs)]
