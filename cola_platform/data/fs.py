"""Per-process cache of fsspec filesystems for the data pipeline.

`cola_platform.storage.filesystem` builds a fresh s3fs instance (and so a fresh S3 client, about
0.1-0.3 s) on every call; the data pipeline opens hundreds of objects, so it reuses one instance
per endpoint and process.
"""

from __future__ import annotations

import os

import fsspec

from cola_platform import storage

_CACHE: dict[tuple, fsspec.AbstractFileSystem] = {}


def s3_filesystem(endpoint: str = "") -> fsspec.AbstractFileSystem:
    """A cached s3fs instance for `endpoint` (empty: from the AWS_* environment variables)."""
    key = (
        os.getpid(),
        endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "",
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
        os.environ.get("AWS_DEFAULT_REGION", ""),
    )
    if key not in _CACHE:
        _CACHE[key] = fsspec.filesystem("s3", **storage.s3_options(endpoint or None))
    return _CACHE[key]


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path within it) like `storage.filesystem`, with S3 instances cached."""
    if uri.startswith("s3://"):
        return s3_filesystem(), uri[len("s3://") :]
    return storage.filesystem(uri)
