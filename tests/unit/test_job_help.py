"""Every job's `--help` shows its docstring's usage examples and the options' defaults."""

from __future__ import annotations

import pytest


def help_text(capsys, main) -> str:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal width


def test_train_help_keeps_examples_defaults_and_family_choices(capsys) -> None:
    from jobs.train import main

    text = help_text(capsys, main)
    assert "python -m jobs.train --family ar --preset tiny --data" in text  # the docstring's examples survive
    assert "(default: tiny)" in text and "(default: 0)" in text  # --preset, --workers
    assert "{ar,cola,llada}" in text
    assert "(default: None)" not in text and "(default: )" not in text


def test_a_family_that_does_not_exist_is_one_usage_line(capsys) -> None:
    from jobs.train import main

    with pytest.raises(SystemExit) as stop:
        main(["--family", "gpt5", "--data", "d"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and "invalid choice: 'gpt5'" in err


def test_sweep_help_does_not_import_ray() -> None:
    """`jobs.sweep --help` answers at once: Ray Tune is imported only when a sweep runs."""
    import subprocess
    import sys

    code = "import sys, jobs.sweep; print(sorted(m for m in ('ray', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-1000:]


def test_export_help_keeps_examples_and_format_choices(capsys) -> None:
    from jobs.export import main

    text = help_text(capsys, main)
    assert "python -m jobs.export --run runs/ar-tiny --format llama --out" in text
    assert "{cola,llama}" in text and "(default: None)" not in text


HEAVY = ("torch", "ray", "mlflow", "deepspeed", "pandas", "matplotlib", "optuna")


@pytest.mark.parametrize(
    "job",
    [
        "train",
        "scaling",
        "eval",
        "sample",
        "prepare_data",
        "export",
        "score",
        "report",
        "presets",
        "lm_eval",
        "bench",
        "cluster",
        "demo",
    ],
)
def test_help_imports_no_heavy_library(job: str) -> None:
    """`--help` builds the parser from light modules only: the heavy libraries wait for the job's work."""
    import subprocess
    import sys

    code = (
        f"import contextlib, io, sys\nfrom jobs.{job} import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout[-1000:] + out.stderr[-1000:]
