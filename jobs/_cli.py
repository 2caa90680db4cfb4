"""Shared job plumbing: logging set-up and turning user errors into one line + a non-zero exit."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Callable, Sequence

from cola_core.config import ConfigError
from cola_platform.allocator import keep_freed_memory
from cola_platform.errors import UserError

EXIT_USER_ERROR = 2


def setup_logging(verbose: bool = False) -> None:
    """One compact log format for every job (stderr), quiet third-party loggers."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("urllib3", "botocore", "s3fs", "fsspec", "aiobotocore", "filelock", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> None:
    """Run a job's main; bad input becomes `error: ...` on stderr and exit code 2."""
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    keep_freed_memory()
    try:
        code = main(argv)
    except (ConfigError, UserError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`--help` keeps the job docstring's layout (its usage examples) and shows each option's default
    (unless it is empty or its help already says what the default is)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        empty = default is None or default is False or default is argparse.SUPPRESS or default in ("", [])
        if empty or "default" in text or action.option_strings == [] or isinstance(action, argparse._HelpAction):
            return action.help
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one `error:` line and exit code 2, and whose `--help`
    shows the whole description (pass the job's docstring) and the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the ValueError into one usage-error line)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
