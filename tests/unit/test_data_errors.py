"""Which errors from a Ray Data read are deterministic (a restart would repeat them)."""

import ray.exceptions

from cola_platform.data.ray_ingest import DataError, data_error
from cola_platform.errors import UserError

CHECKSUM = "shard s3://b/d/train-00003.parquet does not match its manifest checksum (corrupt or modified)"


def wrapped_like_ray(err: Exception) -> Exception:
    """The task's exception as a Ray Data iterator raises it: a RayTaskError that is also the cause's type."""
    try:
        raise err
    except Exception as raised:
        task_error = ray.exceptions.RayTaskError("_read_shards", "Traceback ...", raised)
    outer = RuntimeError("Dataset execution failed")
    outer.__cause__ = task_error.as_instanceof_cause()
    return outer


def test_a_user_error_inside_ray_wrappers_is_a_data_error_with_its_own_message():
    found = data_error(wrapped_like_ray(UserError(CHECKSUM)))
    assert isinstance(found, DataError) and str(found) == CHECKSUM


def test_storage_outages_and_other_failures_are_not_data_errors():
    assert data_error(wrapped_like_ray(ConnectionError("endpoint unreachable"))) is None
    assert data_error(OSError("S3 down")) is None
    assert data_error(RuntimeError("worker died")) is None


def test_a_user_error_known_only_from_the_remote_traceback_is_a_data_error():
    """Ray Data's UserCodeException reaches the worker without its cause: only the traceback names it."""
    traceback_text = (
        'Traceback (most recent call last):\n  File "shards.py", line 48, in read_shard\n'
        f"cola_platform.errors.UserError: {CHECKSUM}\n\nThe above exception was the direct cause ...\n"
        "ray.exceptions.UserCodeException: UDF failed to process a data block."
    )
    task_error = ray.exceptions.RayTaskError("MapBatches(_read_shards)", traceback_text, RuntimeError("UDF failed"))
    found = data_error(task_error.as_instanceof_cause())
    assert isinstance(found, DataError) and str(found) == CHECKSUM
