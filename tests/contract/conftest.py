"""Fixtures for contract tests: run a simulator's ASGI app with uvicorn on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def run_asgi() -> Iterator[Callable[[Any], str]]:
    """Start `app` under uvicorn in a background thread; returns its base URL. Stopped after the test."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any) -> str:
        port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        # A simulator may be sleeping in a TIMEOUT_BUT_SUCCEEDS answer: don't wait for it to finish.
        server.force_exit = True
        thread.join(timeout=5)


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
