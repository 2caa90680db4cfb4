"""Where a Ray Train run's wall time went, from the phase marks rank 0 sends to the recorder.

The driver knows when `fit()` started and returned; rank 0 marks (wall-clock seconds) when its
function was entered, when the process group was up, and per stage when the stage started, its
model and engine were ready, its first record was logged (first batch and step done) and its loop
ended. The differences are the phases `result.json` carries (`run_phases`, `phases`) and
`jobs.bench study` adds up over a study.
"""

from __future__ import annotations

RUN_SPANS = {"worker_group_start": ("fit_start", "worker_entry"), "process_group": ("worker_entry", "process_ready")}
STAGE_SPANS = {
    "setup": ("stage_start", "engine_ready"),
    "first_step": ("engine_ready", "first_record"),
    "loop": ("first_record", "loop_end"),
}


def _spans(marks: dict[str, float], spans: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Seconds between the marks of every span whose two marks are both present."""
    return {
        name: round(marks[end] - marks[start], 3)
        for name, (start, end) in spans.items()
        if start in marks and end in marks
    }


def phase_seconds(
    run_marks: dict[str, float], stage_marks: list[dict[str, float]], fit_start: float, fit_end: float
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """(run phases, per-stage phases) in seconds; a phase whose marks are missing (e.g. a stage that
    finished in an earlier attempt) is left out.

    run: `worker_group_start` (fit() to rank 0's function: controller, placement group, worker
    processes, imports), `process_group` (torch.distributed set-up), `teardown` (last loop end to
    fit() returning). stage: `setup` (ingest plan, model, DeepSpeed engine, checkpoint load),
    `first_step` (first batch and step), `loop` (the other steps, evaluations and checkpoints),
    `hand_over` (weights to the next stage).
    """
    run = _spans({"fit_start": fit_start, **run_marks}, RUN_SPANS)
    ends = [m["loop_end"] for m in stage_marks if "loop_end" in m]
    if ends:
        run["teardown"] = round(fit_end - max(ends), 3)
    stages = []
    for k, m in enumerate(stage_marks):
        phases = _spans(m, STAGE_SPANS)
        if k + 1 < len(stage_marks) and "loop_end" in m and "stage_start" in stage_marks[k + 1]:
            phases["hand_over"] = round(stage_marks[k + 1]["stage_start"] - m["loop_end"], 3)
        stages.append(phases)
    return run, stages
