"""The dashboard's websocket (/_event) accepts only the dashboard's own origin (ESA_PUBLIC_URL).

A page on another site could otherwise open the socket from an operator's browser (cross-site WebSocket
hijacking): the session cookie is SameSite=Strict, but the login event needs no cookie at all.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

EVENT_PATH = "/_event"


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-case, default ports left out (as browsers send Origin)."""
    parts = urlsplit(url.strip())
    return _origin(parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _origin(scheme: str, host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{shown}"
    return f"{scheme}://{shown}:{port}"


def allowed_origins(url: str) -> frozenset[str]:
    """The origins the dashboard is served at: ESA_PUBLIC_URL's and, when that is a loopback address (the demo,
    a developer's machine), its other loopback spellings on the same port (localhost for 127.0.0.1): the same
    machine, and a newcomer who types localhost should not meet a dashboard whose socket is refused."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    hosts = _LOOPBACK if host in _LOOPBACK else (host,)
    return frozenset(_origin(scheme, h, parts.port) for h in hosts)


class SocketOriginGuard:
    """ASGI middleware: a request to /_event (websocket or polling) whose Origin is not `allowed` is refused."""

    def __init__(self, app: ASGIApp, allowed: str) -> None:
        self.app = app
        self.allowed = allowed_origins(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith(EVENT_PATH):
            origin = dict(scope.get("headers") or []).get(b"origin", b"").decode("latin-1")
            if not origin or origin_of(origin) not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
                else:
                    await send({"type": "http.response.start", "status": 403, "headers": []})
                    await send({"type": "http.response.body", "body": b"origin not allowed"})
                return
        await self.app(scope, receive, send)


def guard_socket_origin(allowed: str) -> Callable[[ASGIApp], ASGIApp]:
    """An api_transformer for rx.App that wraps the backend in SocketOriginGuard."""
    return lambda app: SocketOriginGuard(app, allowed)
