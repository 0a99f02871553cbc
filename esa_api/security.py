"""The web edge: one pure ASGI middleware in front of every route (the API, the Mini App and the dashboard, which
Reflex mounts under this app): request body limits, security headers, and the client's address behind the
reverse proxies we trust.

It reads no body: a declared Content-Length over the limit is answered 413 before anything is read, and a body
without one is counted as it streams (the request fails with 413 once it passes the limit).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from esa_api.customer.problems import Problem, problem_response
from esa_domain.infra.settings import Settings, get_settings

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# ECPay's form posts and the suppliers' callbacks are a few hundred bytes: they get the smaller limit
NOTIFICATION_PREFIXES = ("/ecpay/", "/callbacks/")
MINIAPP_PATH = "/app"

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),  # ECPay's checkout still sees our origin
]
# the dashboard, the API and ECPay's pages are never framed (clickjacking of a logged-in operator)
_NEVER_FRAMED = [
    *_COMMON,
    (b"content-security-policy", b"frame-ancestors 'none'; base-uri 'self'; object-src 'none'"),
    (b"x-frame-options", b"DENY"),
]
# The Mini App runs as a LIFF app: LINE's in-app browser opens it top-level, but LINE's web and desktop hosts
# (liff.line.me, *.line.me) may show it in a frame, so those and only those may frame it. No X-Frame-Options
# here: it cannot name hosts, and DENY would override the allow-list in browsers that ignore frame-ancestors.
_MINIAPP = [
    *_COMMON,
    (
        b"content-security-policy",
        b"frame-ancestors https://*.line.me https://liff.line.me; base-uri 'self'; object-src 'none'",
    ),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class BodyTooLarge(HTTPException):
    """A request body past its route's limit. An HTTPException, so FastAPI's body parsing re-raises it instead
    of answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=_too_large_detail(limit))


def _too_large_detail(limit: int) -> str:
    return f"the request body is larger than this endpoint accepts ({limit} bytes); send a smaller one"


@dataclass(frozen=True)
class EdgePolicy:
    max_body_bytes: int
    max_notification_body_bytes: int
    trusted_proxies: tuple[IpNetwork, ...] = ()
    hsts: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgePolicy:
        return cls(
            max_body_bytes=settings.max_body_bytes,
            max_notification_body_bytes=settings.max_notification_body_bytes,
            trusted_proxies=parse_networks(settings.trusted_proxies),
            hsts=settings.public_url.strip().lower().startswith("https://"),
        )

    def limit_for(self, path: str) -> int:
        if path.startswith(NOTIFICATION_PREFIXES):
            return min(self.max_notification_body_bytes, self.max_body_bytes)
        return self.max_body_bytes

    def headers_for(self, path: str) -> list[tuple[bytes, bytes]]:
        miniapp = path == MINIAPP_PATH or path.startswith(MINIAPP_PATH + "/")
        headers = _MINIAPP if miniapp else _NEVER_FRAMED
        return [*headers, _HSTS] if self.hsts else headers

    def trusts(self, address: IpAddress) -> bool:
        return any(address in net for net in self.trusted_proxies)


def parse_networks(value: str) -> tuple[IpNetwork, ...]:
    """`value`: comma-separated addresses or CIDRs (ESA_TRUSTED_PROXIES)."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip())


def real_client(peer: str, forwarded_for: str, policy: EdgePolicy) -> str:
    """The client's address: `peer` unless it is a trusted proxy; then the right-most X-Forwarded-For entry
    that is not one of our proxies (entries further left were written by the client and prove nothing)."""
    try:
        if not policy.trusts(ipaddress.ip_address(peer)):
            return peer
    except ValueError:
        return peer
    client = peer
    for entry in reversed(forwarded_for.split(",")):
        try:
            address = ipaddress.ip_address(entry.strip())
        except ValueError:  # not an address: keep the last hop a trusted proxy vouched for
            break
        client = str(address)
        if not policy.trusts(address):
            break
    return client


class EdgeGuard:
    """Body limits, security headers and the real client address, for every HTTP request and websocket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._policy: EdgePolicy | None = None

    def _policy_for(self, app: Any) -> EdgePolicy:
        # read at the first request: a test installs its runtime (and settings) after the app is built
        if self._policy is None:
            self._policy = policy_for(app)
        return self._policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        policy = self._policy or self._policy_for(scope["app"])
        declared: bytes | None = None
        forwarded: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"x-forwarded-for":
                forwarded.append(value)
        if forwarded and policy.trusted_proxies and scope.get("client"):
            peer, port = scope["client"]
            xff = b",".join(forwarded).decode("latin-1")
            scope["client"] = (real_client(peer, xff, policy), port)
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        path: str = scope["path"]
        extra = policy.headers_for(path)
        limit = policy.limit_for(path)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {name for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server refuses a malformed Content-Length itself
            if too_large:
                await _too_large(scope, receive, send_with_headers, limit)
                return
            # the server delivers no more than the declared length: nothing to count
            await self.app(scope, receive, send_with_headers)
            return

        received = 0

        async def receive_counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, receive_counted, send_with_headers)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(scope, receive, send_with_headers, limit)


def policy_for(app: Any) -> EdgePolicy:
    """The edge policy from the app's runtime settings (a test's), else the process's settings."""
    runtime = getattr(app.state, "runtime", None)
    return EdgePolicy.from_settings(runtime.settings if runtime is not None else get_settings())


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    problem = Problem(413, "payload_too_large", _too_large_detail(limit))
    await problem_response(problem, Request(scope))(scope, receive, send)


def install(app: FastAPI) -> None:
    """Put the edge guard in front of `app` (call last: it must be the outermost of our middleware)."""

    async def on_too_large(request: Request, exc: Exception) -> Response:
        # raised while a route streams its body; the limit is in the message
        assert isinstance(exc, BodyTooLarge)
        return problem_response(Problem(413, "payload_too_large", str(exc.detail)), request)

    app.add_exception_handler(BodyTooLarge, on_too_large)
    app.add_middleware(EdgeGuard)
