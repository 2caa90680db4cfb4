"""Training runs: run directories, the in-process runner, Ray Train + DeepSpeed workers, export."""
