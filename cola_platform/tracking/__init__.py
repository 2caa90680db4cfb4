"""Experiment tracking: MLflow logging that never stops training, and the distributed run recorder.

tracker = open_tracker(cfg, run_dir)      # NullTracker when MLflow is off or unreachable
hooks.on_record.append(tracker.log_record)
...
tracker.finish(result, run_dir)           # artifacts + FINISHED
"""

from cola_platform.tracking.mlflow_tracker import (
    MlflowTracker,
    NullTracker,
    Tracker,
    TrackingInfo,
    mlflow_client,
    open_tracker,
    tracking_uri,
)

__all__ = ["MlflowTracker", "NullTracker", "Tracker", "TrackingInfo", "mlflow_client", "open_tracker", "tracking_uri"]
