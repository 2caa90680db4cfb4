"""Keeping credentials out of MLflow params, tags and log lines.

A name is secret-like when one of its words (split on non-alphanumerics and camelCase) is
secret, token, password, passwd, key, credential(s), auth or apikey: `AWS_SECRET_ACCESS_KEY`,
`MLFLOW_TRACKING_TOKEN`, `api_key` are; `data.tokenizer_hash`, `sampler.max_new_tokens` are not.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

SECRET_WORDS = frozenset(
    {"secret", "token", "password", "passwd", "key", "credential", "credentials", "auth", "apikey"}
)
MIN_SECRET_LEN = 8
"""Shorter values of secret-like variables (`RAY_AUTH_MODE=token`) are not treated as secrets."""
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
MASK = "***"


def is_secret_name(name: str) -> bool:
    """True when a variable / field name looks like it holds a credential."""
    return any(w.lower() in SECRET_WORDS for w in _WORD.findall(name))


def redact_uri(value: str) -> str:
    """Drop `user:password@` and query strings from URIs (`http://u:p@host/x?token=..` -> `http://host/x`)."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return MASK
    if "@" not in parts.netloc and not parts.query:
        return value
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact_nested(data: Any) -> Any:
    """`data` (nested dicts / lists, e.g. a config) with `redact_uri` applied to every string in it."""
    if isinstance(data, dict):
        return {k: redact_nested(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_nested(v) for v in data]
    return redact_uri(data) if isinstance(data, str) else data


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-like environment variables (at least `MIN_SECRET_LEN` characters), longest first."""
    env = os.environ if env is None else env
    return sorted({v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET_LEN}, key=len, reverse=True)


def scrub(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` with secret environment values masked and URI credentials dropped."""
    for value in secret_values(env):
        text = text.replace(value, MASK)
    return re.sub(r"(\w+://)[^/\s@]+@", r"\1", text)


def safe_value(name: str, value: Any, env: Mapping[str, str] | None = None) -> str | None:
    """A param / tag value fit for MLflow: None for secret-like names, otherwise scrubbed text."""
    if is_secret_name(name.rsplit(".", 1)[-1]):
        return None
    text = value if isinstance(value, str) else str(value)
    return scrub(redact_uri(text) if isinstance(value, str) else text, env)[:6000]
