"""The family-agnostic training loop, its local engine and checkpoints."""
