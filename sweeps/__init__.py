"""The research side of sweeps and scaling studies: coupled search spaces declared in TOML, derived
parameters, per-question analyses (RQ1 drift, RQ2/RQ3 comparisons) and scaling-law fits."""
