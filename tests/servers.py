"""Run ASGI apps under uvicorn on free 127.0.0.1 ports, for tests that go over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Servers:
    """Starts apps; `stop()` stops them all (forcefully: a simulator may be sleeping in a slow answer)."""

    def __init__(self) -> None:
        self._running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(self, app: Any, port: int | None = None) -> str:
        port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self._running.append((server, thread))
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for server, _ in self._running:
            server.should_exit = True
            server.force_exit = True
        for _, thread in self._running:
            thread.join(timeout=5)
        self._running.clear()
