"""Loopback networking helpers: free ports, busy-port checks and polling a server until it answers."""

from __future__ import annotations

import logging
import random
import socket
import time
import urllib.error
import urllib.request
from typing import Callable, Mapping

from cola_platform.errors import UserError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Ports Ray and the usual servers take by default: never hand them out as "free" ports, so a Ray
# instance started later with its defaults (`ray.init()`, another `ray start`) does not collide.
RESERVED_PORTS = frozenset({5000, 6379, 8076, 8265, 9000, 10001, 52365})


# Ports handed out lie below the kernel's ephemeral range (32768+ on Linux): a port picked from that
# range can be taken by any process binding port 0 (Ray's own workers do) before its server starts.
PICK_RANGE = (20000, 32000)
_rng = random.SystemRandom()  # independent of any seeded global RNG: two drivers must not pick alike


def free_port(avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now, outside the ephemeral range and not
    a well-known default."""
    for _ in range(200):
        port = _rng.randrange(*PICK_RANGE)
        if port not in RESERVED_PORTS and port not in avoid and port_is_free(port):
            return port
    raise RuntimeError(f"could not find a free TCP port in {PICK_RANGE} on 127.0.0.1")


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when a server could bind `host:port` now (SO_REUSEADDR, like the servers themselves)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_ports_free(ports: Mapping[str, tuple[int, str]]) -> None:
    """Raise a one-line `UserError` naming the first busy port.

    `ports` maps a description to (port, flag), e.g. `{"Ray dashboard": (8265, "--dashboard-port")}`.
    """
    seen: dict[int, str] = {}
    for what, (port, flag) in ports.items():
        if not 0 < port < 65536:
            raise UserError(f"{flag} {port} is not a valid TCP port")
        if port in seen:
            raise UserError(f"port {port} is given for both the {seen[port]} and the {what}; pick distinct ports")
        seen[port] = what
        if not port_is_free(port):
            raise UserError(
                f"port {port} (the {what}) is already in use on {HOST}; stop what holds it or pick another with {flag}"
            )


def http_ok(url: str, headers: Mapping[str, str] | None = None, timeout: float = 3.0) -> bool:
    """True when GET `url` answers 200."""
    return http_get(url, headers, timeout) is not None


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 3.0) -> bytes | None:
    """The body of GET `url` when it answers 200, else None."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read() if response.status == 200 else None
    except (OSError, urllib.error.HTTPError, ValueError):
        return None


def wait_http(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
    """Poll `url` until it answers 200; `TimeoutError` after `timeout` seconds."""
    wait_until(lambda: http_ok(url, headers), timeout, what=url)


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.5,
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Call `check` until it returns True.

    `abort` (optional) returns a reason to give up early, e.g. "the process exited"; it raises
    `RuntimeError` with that reason. After `timeout` seconds raises `TimeoutError`.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        reason = abort() if abort else None
        if reason:
            raise RuntimeError(f"{what}: {reason}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not answer within {timeout:.0f} s")
        time.sleep(interval)
