"""Fixtures for contract tests. `run_asgi` (start an ASGI app on a free port) comes from tests/conftest.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


class CallbackSink:
    """Records every request a simulator sends to it; `url` is where to point callbacks."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        with self._lock:
            self.received.append(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope["query_string"].decode(),
                    "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
                    "body": body,
                }
            )
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"OK"})

    def wait_for(self, count: int, timeout_s: float = 3.0) -> list[dict[str, Any]]:
        """Wait until at least `count` callbacks arrived (or the timeout passed); returns them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    break
            time.sleep(0.02)
        with self._lock:
            return list(self.received)


@pytest.fixture
def callback_sink(run_asgi: Callable[[Any], str]) -> CallbackSink:
    """A live HTTP endpoint that records callbacks; its base URL is `callback_sink.url`."""
    sink = CallbackSink()
    sink.url = run_asgi(sink) + "/callbacks"
    return sink
