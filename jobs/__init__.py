"""Entry points: `python -m jobs.<name>` locally, or `ray job submit ... -- python -m jobs.<name>`."""
