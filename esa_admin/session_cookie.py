"""The session cookie, set by the server: HttpOnly, SameSite=Strict, Secure when ESA_PUBLIC_URL is https.

Reflex's own cookies (rx.Cookie) are written by its frontend script, so script can read them. Instead, the login
event hands the page a one-time ticket (a session that lives 30 s), the page POSTs it to /_session, and the answer
sets the real session's token as an HttpOnly cookie. The browser then reloads: its new websocket carries the
cookie in its handshake, where the state reads it (`self.router.headers.cookie`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from esa_admin.deps import unit_of_work
from esa_admin.socket_origin import allowed_origins, origin_of
from esa_domain.infra.settings import get_settings
from esa_domain.operations import operators

SESSION_COOKIE = "esa_session"
SESSION_PATH = "/_session"
TICKET_TTL = timedelta(seconds=30)


def token_from_cookie_header(header: str) -> str:
    """The session token in a Cookie header ("" if none)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except Exception:  # a malformed Cookie header means no session, not an error
        return ""
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else ""


def _cookie(value: str, max_age: int) -> bytes:
    secure = "; Secure" if get_settings().public_url.startswith("https://") else ""
    return f"{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}".encode()


def _redeem(ticket: str) -> str | None:
    """Exchange a login ticket (once) for a real session's token; None if the ticket is unknown or used."""
    with unit_of_work() as uow:
        operator = operators.operator_for_token(uow.session, ticket)
        if operator is None or not operators.close_session(uow.session, ticket):
            return None
        hours = get_settings().session_hours
        token = operators.open_session(uow.session, operator, ttl=timedelta(hours=hours))
        uow.commit()
    return token


class SessionCookieEndpoint:
    """ASGI middleware answering /_session: POST a ticket to get the cookie, DELETE to drop it."""

    def __init__(self, app: ASGIApp, allowed_origin: str) -> None:
        self.app = app
        self.allowed = allowed_origins(allowed_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").rstrip("/") != SESSION_PATH:
            await self.app(scope, receive, send)
            return
        origin = dict(scope.get("headers") or []).get(b"origin", b"").decode("latin-1")
        method = scope.get("method", "")
        if not origin or origin_of(origin) not in self.allowed or method not in ("POST", "DELETE"):
            await _answer(send, 403)
            return
        if method == "DELETE":
            await _answer(send, 204, _cookie("", 0))
            return
        body = b""
        while len(body) <= 200:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        token = await asyncio.to_thread(_redeem, body[:200].decode("utf-8", "replace").strip())
        if token is None:
            await _answer(send, 403)
            return
        await _answer(send, 204, _cookie(token, get_settings().session_hours * 3600))


async def _answer(send: Send, status: int, cookie: bytes | None = None) -> None:
    headers = [(b"cache-control", b"no-store")]
    if cookie is not None:
        headers.append((b"set-cookie", cookie))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def serve_session_cookie(allowed_origin: str) -> Callable[[ASGIApp], ASGIApp]:
    """An api_transformer for rx.App that answers /_session."""
    return lambda app: SessionCookieEndpoint(app, allowed_origin)
