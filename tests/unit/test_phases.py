"""Phase seconds of a Ray Train run from rank 0's marks (what result.json's `run_phases` / `phases` hold)."""

from cola_platform.training.phases import phase_seconds


def test_two_stage_run_phases_add_up_to_the_fit_wall_time():
    run_marks = {"worker_entry": 112.0, "process_ready": 115.0}
    stages = [
        {"stage_start": 115.5, "engine_ready": 120.0, "first_record": 122.0, "loop_end": 150.0},
        {"stage_start": 151.0, "engine_ready": 153.0, "first_record": 154.0, "loop_end": 190.0},
    ]
    run, per_stage = phase_seconds(run_marks, stages, fit_start=100.0, fit_end=201.0)
    assert run == {"worker_group_start": 12.0, "process_group": 3.0, "teardown": 11.0}
    assert per_stage[0] == {"setup": 4.5, "first_step": 2.0, "loop": 28.0, "hand_over": 1.0}
    assert per_stage[1] == {"setup": 2.0, "first_step": 1.0, "loop": 36.0}
    total = sum(run.values()) + sum(sum(p.values()) for p in per_stage)
    assert abs(total - (201.0 - 100.0) + 0.5) < 1e-9  # 0.5 s between process_ready and stage_start is not a phase


def test_a_stage_finished_in_an_earlier_attempt_has_no_phases():
    run, per_stage = phase_seconds({"worker_entry": 5.0}, [{}, {"stage_start": 6.0, "loop_end": 9.0}], 0.0, 10.0)
    assert run == {"worker_group_start": 5.0, "teardown": 1.0}
    assert per_stage == [{}, {}]
