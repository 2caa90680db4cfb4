"""Fault drills: every fault the platform claims to survive, executed and judged (`python -m jobs.bench faults`).

A `Fault` names the fault, states what must happen (its claim) and the tests that cover it, and has a
drill: a function that injects the fault into real components (the jobs' CLIs, a throwaway embedded
cluster with its Ray head, MLflow and S3 servers on loopback, Ray Train workers under DeepSpeed) and
records what it measured as checks of the claim. The verdict is `held` when every check passed and
`failed` otherwise, including when the drill itself could not run.

    suite.py     Fault, Probe, FaultResult, run_faults
    context.py   FaultContext: work dir, prepared data, scratch cluster, running the jobs
    inject.py    damaging files, stopping at a step, waiting for steps, finding Ray Train workers
    evidence.py  reading what a run left: result.json, logged steps, MLflow runs, HTTP status codes
    drills_*.py  the drills, grouped by what they need (nothing, Ray Train, the cluster's servers)
    catalog.py   the list of faults (names, claims, covering tests)
    runner.py    run the selected drills, write the JSON and the Markdown page after each
    report.py    the Markdown page and its table
"""
