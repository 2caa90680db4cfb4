"""Local paths and s3:// URIs behind one fsspec interface.

S3 settings come from the standard AWS environment variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`), so any
S3-compatible server works.
"""

from __future__ import annotations

import os
from pathlib import Path

import fsspec

from cola_platform.errors import UserError


def is_remote(uri: str) -> bool:
    """True for s3:// (and other scheme://) URIs."""
    return "://" in uri and not uri.startswith("file://")


def s3_options(endpoint_url: str | None = None) -> dict:
    """s3fs keyword arguments from the environment (bounded retries, short timeouts)."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client_kwargs: dict = {}
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        client_kwargs["region_name"] = region
    return {
        "client_kwargs": client_kwargs,
        "config_kwargs": {"retries": {"max_attempts": 3, "mode": "standard"}, "connect_timeout": 5, "read_timeout": 30},
        "skip_instance_cache": True,
    }


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path within it) for a local path, file:// or s3:// URI."""
    if uri.startswith("s3://"):
        fs = fsspec.filesystem("s3", **s3_options())
        return fs, uri[len("s3://") :]
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    return fsspec.filesystem("file"), str(Path(path).expanduser().absolute())


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a local path or URI."""
    return "/".join([uri.rstrip("/"), *parts])


def read_text(uri: str) -> str:
    """Read a small text file from a path or URI, with a one-line error when it is missing."""
    fs, path = filesystem(uri)
    try:
        with fs.open(path, "r") as f:
            return f.read()
    except FileNotFoundError:
        raise UserError(f"{uri} does not exist") from None


def write_text_atomic(uri: str, text: str) -> None:
    """Write a small text file; local writes go through temp file + rename, S3 PUTs are atomic."""
    if not is_remote(uri):
        from cola_core.utils.io import atomic_write_text

        atomic_write_text(filesystem(uri)[1], text)
        return
    fs, path = filesystem(uri)
    with fs.open(path, "w") as f:
        f.write(text)
