"""Ray Tune sweeps: every trial drives its own Ray Train run (the Train V2 pattern)."""
