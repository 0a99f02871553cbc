"""Heartbeats of the workers and the scheduler, in Redis, read by the readiness checks.

Each live process writes `esa:heartbeat:<kind>:<host>:<pid>` every ESA_HEARTBEAT_SECONDS with a time-to-live of
three beats: a process that dies or hangs simply disappears, with nothing to clean up. Redis rather than a
PostgreSQL table: expiry is what a heartbeat needs, the workers and scheduler cannot work without Redis
anyway, and the beats add no writes (no WAL, no vacuum) to the database the orders need.

A beat is written only while the process can do its work: a worker while all its worker threads and consumers
are alive, the scheduler while its scheduling loop is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "esa:heartbeat:"
KINDS = ("worker", "scheduler")


def key_for(kind: str, pid: int | None = None) -> str:
    return f"{PREFIX}{kind}:{socket.gethostname()}:{pid or os.getpid()}"


def beat(client: Any, kind: str, every_seconds: int, *, pid: int | None = None) -> None:
    """Write one heartbeat (it expires after three beats)."""
    value = json.dumps({"at": time.time(), "host": socket.gethostname(), "pid": pid or os.getpid()})
    client.set(key_for(kind, pid), value, ex=max(3 * every_seconds, 3))


def alive(client: Any, kind: str) -> list[dict[str, Any]]:
    """The processes of `kind` whose heartbeat has not expired."""
    keys = list(client.scan_iter(match=f"{PREFIX}{kind}:*", count=200))
    if not keys:
        return []
    return [json.loads(v) for v in client.mget(keys) if v is not None]


class Heartbeat:
    """A daemon thread beating for this process while `healthy()` says it can work."""

    def __init__(
        self, client: Any, kind: str, every_seconds: int, healthy: Callable[[], bool] = lambda: True
    ) -> None:
        self.client, self.kind, self.every = client, kind, every_seconds
        self.healthy = healthy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name=f"esa-heartbeat-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.healthy():
                    beat(self.client, self.kind, self.every)
            except Exception:  # Redis away: no beat, and readiness says so; try again next time
                log.warning("heartbeat of this %s not written", self.kind, exc_info=True)
            self._stop.wait(self.every)

    def stop(self) -> None:
        """Stop beating and withdraw the beat at once (a clean shutdown is not a dead process)."""
        self._stop.set()
        with contextlib.suppress(Exception):  # it expires on its own
            self.client.delete(key_for(self.kind))
