"""Every fault the platform claims to survive: what is done, what must happen, and the tests that check it.

Order: cheap drills first (in process, then single CLI runs), then the drills on the suite's own
cluster, the loopback check last so that it sees the processes every Ray Train run left.
"""

from __future__ import annotations

from cola_platform.faults import drills_local as local
from cola_platform.faults import drills_ray as ray
from cola_platform.faults import drills_services as services
from cola_platform.faults.suite import Fault

_JOBS = "tests/e2e/test_jobs_local.py::"
_FT = "tests/platform/test_fault_tolerance.py::"
_MLFLOW = "tests/platform/test_mlflow.py::"

CATALOG: list[Fault] = [
    Fault(
        "checkpoint-corrupt",
        "4 KB zeroed in the newest in-process checkpoint's `model.safetensors` (run stopped at step 8, "
        "checkpoints at 3 and 6), then the run is resumed",
        "resume skips it with one warning naming it and continues from step 3 to the requested step",
        local.checkpoint_corrupt,
        (
            "tests/unit/test_resume.py::test_resume_skips_a_damaged_checkpoint_and_falls_back_to_the_previous_one",
            "tests/unit/test_resume.py::test_truncated_or_unmanifested_checkpoints_are_not_valid",
        ),
    ),
    Fault(
        "diverged-loss",
        "the training loss becomes non-finite (learning rate 1e30, no clipping, a checkpoint every step)",
        "the run stops with one `DivergedError` line; no result.json; the last checkpoint is the last good step",
        local.diverged_loss,
        (
            "tests/unit/test_resume.py::test_a_diverged_run_fails_clearly_and_writes_no_result",
            "tests/platform/test_distributed_stages.py::test_a_diverged_distributed_run_fails_once_with_the_loop_error",
        ),
    ),
    Fault(
        "run-lock",
        "a second `jobs.train` into the run directory of a running one; then the first is SIGKILLed",
        "the second exits at once with one line naming the holder (pid, host); the dead holder's lock is free",
        local.run_lock,
        (
            "tests/unit/test_run_lock.py::test_second_writer_fails_naming_the_holder_and_a_dead_holders_lock_is_taken_over",
            _JOBS + "test_second_train_into_the_same_run_dir_exits_at_once_naming_the_first",
        ),
    ),
    Fault(
        "tokenizer-mismatch",
        "`jobs.train` on data whose tokenizer.json is not the one its manifest was prepared with",
        "one error line, exit 2, no run directory",
        local.tokenizer_mismatch,
        (_JOBS + "test_a_tokenizer_that_is_not_the_manifests_is_refused",),
    ),
    Fault(
        "shard-corrupt",
        "`jobs.train` (in process) on data with one byte of a shard flipped",
        "one error line naming the shard's checksum mismatch, exit 2, no run directory",
        local.shard_corrupt,
        ("tests/platform/test_data_read.py::test_train_cli_refuses_a_corrupt_shard",),
    ),
    Fault(
        "negative-max-new-tokens",
        "`jobs.sample --max-new-tokens -1`",
        "one error line naming the flag, exit 2",
        local.negative_max_new_tokens,
        (_JOBS + "test_bad_input_is_one_line_and_nonzero",),
    ),
    Fault(
        "s3-down",
        "`jobs.prepare_data` from an `s3://` source whose endpoint nothing listens on",
        "one error line naming the endpoint within seconds, exit 2, nothing written",
        local.s3_down,
        ("tests/platform/test_data_s3.py::test_unreachable_s3_endpoint_fails_fast_with_one_line",),
    ),
    Fault(
        "mlflow-down",
        "`jobs.train` with an MLflow tracking URI nothing listens on",
        "one warning line; training finishes; metrics.jsonl has every step",
        local.mlflow_down,
        (_MLFLOW + "test_unreachable_server_warns_once_and_training_completes",),
    ),
    Fault(
        "infeasible-workers",
        "`jobs.train --workers 3` on a 2-CPU Ray cluster",
        "one error line saying how many workers fit, exit 2, instead of waiting forever",
        ray.infeasible_workers,
        (
            _JOBS + "test_bad_input_is_one_line_and_nonzero",
            "tests/unit/test_feasibility.py::test_cpu_workers_count_whole_shares_per_node",
        ),
        cluster=True,
    ),
    Fault(
        "ray-token-auth",
        "the Ray job API of `jobs.cluster up` asked without a token and with a wrong token",
        "both refused (401/403); the right token is answered",
        services.token_auth,
        ("tests/platform/test_cluster.py::test_up_status_down_without_s3",),
        cluster=True,
    ),
    Fault(
        "secrets-redacted",
        "`jobs.train` with `user:password@` in its MLflow URI and a secret-named variable in its environment",
        "neither reaches the run directory, the job's output, MLflow params, tags or artifacts",
        services.secrets_redacted,
        (
            _MLFLOW + "test_params_tags_metrics_artifacts_and_no_secrets",
            _MLFLOW + "test_secret_names_and_uris_are_redacted",
            _JOBS + "test_credentials_inside_uris_never_reach_the_run_directory",
        ),
        cluster=True,
    ),
    Fault(
        "mlflow-stale-run",
        "`jobs.train` (in process, MLflow on) SIGKILLed, its run directory deleted, the same command re-run",
        "the killed run's MLflow run, left RUNNING, is ended KILLED; the new one FINISHED",
        services.stale_mlflow_run,
        (_MLFLOW + "test_a_run_trained_again_ends_the_mlflow_run_a_killed_process_left_running",),
        cluster=True,
    ),
    Fault(
        "ray-shard-corrupt",
        "`jobs.train --workers 2` on data whose last shard has one byte flipped (read mid-training)",
        "one error line naming the shard, exit 2, no traceback in the job's output, no result.json",
        ray.ray_shard_corrupt,
        (_FT + "test_unreadable_shard_on_ray_train_is_reported_once_without_restarts",),
        cluster=True,
    ),
    Fault(
        "worker-sigkill",
        "one Ray Train worker SIGKILLed after the first checkpoint (`jobs.train --workers 2 --zero 2`)",
        "the worker group restarts from the last checkpoint; the run ends at exactly the requested step, "
        "each step logged once, one MLflow run",
        ray.worker_sigkill,
        (_FT + "test_sigkilled_worker_restarts_from_checkpoint_and_finishes",),
        cluster=True,
    ),
    Fault(
        "driver-sigkill",
        "the `jobs.train --workers 2` driver SIGKILLed after a checkpoint, then the same command re-run",
        "the re-run resumes from the newest checkpoint Ray Train completed (one the kill cut short is named as "
        "skipped), ends at exactly the requested step, each step logged once, in the same MLflow run",
        ray.driver_sigkill,
        (
            "tests/platform/test_distributed_resume.py::test_rerun_with_same_name_resumes_from_s3_checkpoint",
            "tests/platform/test_checkpoint_manifest.py::"
            "test_resume_takes_the_newest_valid_registered_checkpoint_and_sets_the_rest_aside",
        ),
        cluster=True,
    ),
    Fault(
        "elastic-resume",
        "the driver of `jobs.train --workers 2 --zero 2` (strided ingest) SIGKILLed after a checkpoint, then the "
        "same command re-run with `--workers 1`",
        "the re-run continues the same run (name, MLflow run) from its newest checkpoint at 1 worker with twice the "
        "accumulation; every step logged once and equal to an uninterrupted in-process run",
        ray.elastic_resume,
        (
            "tests/platform/test_distributed_resume.py::test_rerun_with_same_name_resumes_from_s3_checkpoint",
            "tests/unit/test_elastic.py::test_a_new_worker_count_keeps_the_run_name_and_its_global_batch",
        ),
        cluster=True,
    ),
    Fault(
        "ray-checkpoint-corrupt",
        "driver SIGKILLed after two checkpoints, the newest one's `mp_rank_00_model_states.pt` cut in half, "
        "the same command re-run",
        "the re-run resumes from the previous checkpoint with one warning naming the skipped one, no retries",
        ray.ray_checkpoint_corrupt,
        (
            _FT + "test_sigkilled_worker_restarts_from_checkpoint_and_finishes",
            "tests/platform/test_checkpoint_manifest.py::"
            "test_resume_takes_the_newest_valid_registered_checkpoint_and_sets_the_rest_aside",
        ),
        cluster=True,
    ),
    Fault(
        "listeners-loopback",
        "every listening socket of the processes of `jobs.cluster up --s3` after the drills above",
        "all bound to 127.0.0.1",
        services.loopback_listeners,
        ("tests/e2e/test_ray_job_submit.py::test_every_listener_of_the_cluster_is_on_loopback",),
        cluster=True,
    ),
]
