"""Data: sources, tokenization into packed Parquet shards + manifest, and readers for training."""
