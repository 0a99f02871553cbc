"""Heartbeats of the workers and the scheduler, in Redis, read by the readiness checks.

Each live process beats every ESA_HEARTBEAT_SECONDS into the sorted set `esa:heartbeats:<kind>`: its member is
`<host>:<pid>`, its score the time the beat runs out (three beats later). A process that dies or hangs stops
renewing and falls out by itself; readers take the members whose time has not run out (one ZRANGEBYSCORE,
however many other keys Redis holds) and drop the expired ones. Redis rather than a PostgreSQL table: expiry is
what a heartbeat needs, the workers and the scheduler cannot work without Redis anyway, and the beats add no
writes (no WAL, no vacuum) to the database the orders need.

A beat is written only while the process can do its work: a worker while all its worker threads and consumers
are alive, the scheduler while its scheduling loop is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "esa:heartbeats:"
KINDS = ("worker", "scheduler")


def member(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def beat(client: Any, kind: str, every_seconds: int, *, pid: int | None = None) -> None:
    """Write one heartbeat (it runs out after three beats)."""
    lasts = max(3 * every_seconds, 3)
    pipe = client.pipeline(transaction=False)
    pipe.zadd(PREFIX + kind, {member(pid): time.time() + lasts})
    pipe.expire(PREFIX + kind, 24 * 3600)  # a kind nobody runs any more leaves nothing behind
    pipe.execute()


def alive(client: Any, kind: str) -> list[dict[str, Any]]:
    """The processes of `kind` whose heartbeat has not run out: host, pid and when it runs out."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.zremrangebyscore(PREFIX + kind, "-inf", now)
    pipe.zrangebyscore(PREFIX + kind, now, "+inf", withscores=True)
    _, found = pipe.execute()
    out = []
    for name, until in found:
        host, _, pid = (name.decode() if isinstance(name, bytes) else name).rpartition(":")
        out.append({"host": host, "pid": int(pid), "until": until})
    return out


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
        with contextlib.suppress(Exception):  # it runs out on its own
            self.client.zrem(PREFIX + self.kind, member())
