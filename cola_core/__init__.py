"""Cola DLM core: pure PyTorch models, objectives, samplers, FLOPs accounting and configs.

This package never imports ray, mlflow, s3fs or deepspeed (a test checks it); the platform layer
(`cola_platform`) adds distribution, data streaming and tracking on top.
"""
