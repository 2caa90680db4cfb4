"""Relative user paths become absolute at the driver, so Ray workers (other cwd) find them."""

from pathlib import Path

from cola_platform.paths import PROJECT_ROOT_ENV, project_path


def test_relative_paths_resolve_against_project_root(monkeypatch, tmp_path):
    monkeypatch.setenv(PROJECT_ROOT_ENV, str(tmp_path))
    assert project_path("runs/data/x") == str(tmp_path / "runs/data/x")


def test_relative_paths_resolve_against_cwd_without_root(monkeypatch, tmp_path):
    monkeypatch.delenv(PROJECT_ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    resolved = project_path("runs/data/x")
    assert Path(resolved).is_absolute() and resolved == str(tmp_path / "runs/data/x")


def test_absolute_paths_uris_and_empty_pass_through(monkeypatch):
    monkeypatch.setenv(PROJECT_ROOT_ENV, "/elsewhere")
    for path in ("", "/abs/data", "s3://bucket/prefix"):
        assert project_path(path) == path
