"""Benchmarks behind `python -m jobs.bench`: one module per part, shared timing and machine facts in `measure`."""
