"""User-facing errors: jobs print `error: <message>` on one line and exit non-zero."""

from __future__ import annotations


class UserError(RuntimeError):
    """A problem with the user's input (path, file, config, server) that the message explains."""
