"""Which sockets the processes of a cluster listen on, and which of them are not on loopback.

Every server of the embedded cluster is meant for this machine only. `listeners` walks the process
tree of each recorded service (the Ray head and everything its node started, including job
workers; MLflow and its uvicorn worker; S3) and lists its listening TCP sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


@dataclass(frozen=True)
class Listener:
    """One listening socket of a cluster process."""

    service: str
    process: str
    pid: int
    ip: str
    port: int

    @property
    def loopback(self) -> bool:
        return self.ip in LOOPBACK

    def __str__(self) -> str:
        return f"{self.service}/{self.process}({self.pid}) {self.ip}:{self.port}"


def listeners(service_pids: Mapping[str, int]) -> list[Listener]:
    """Listening sockets of every process in the trees rooted at `service_pids` ({service: pid})."""
    import psutil

    found: list[Listener] = []
    for service, pid in service_pids.items():
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in tree:
            try:
                sockets = [c for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
                name = proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found += [Listener(service, name, proc.pid, c.laddr.ip, c.laddr.port) for c in sockets]
    return found
