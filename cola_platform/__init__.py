"""Platform layer: storage, data preparation and streaming, Ray Train + DeepSpeed training,
Ray Tune sweeps, MLflow tracking and the embedded local cluster.

Named `cola_platform`, not `platform`: a top-level `platform` package would shadow Python's
standard-library `platform` module and break uuid, pytest, ray and mlflow.
"""
