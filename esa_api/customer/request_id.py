"""X-Request-ID on every response and in every log record written while serving the request.

A sane incoming id (from a proxy or the Mini App) is kept so one id follows the request across systems;
anything else is replaced by a fresh one. An unhandled error still answers with the id (500 problem JSON on
/api), so a customer's report can be matched to the log.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from esa_domain.infra import logging_setup, metrics

log = logging.getLogger("esa_api.access")
HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_current: ContextVar[str | None] = ContextVar("esa_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _current.get()


def install_log_record_factory() -> None:
    """Give every log record a `request_id` attribute ('-' outside a request) and the bound log fields;
    idempotent (esa_domain.infra.logging_setup)."""
    logging_setup.install_record_factory()


class RequestIdMiddleware:
    """Pure ASGI middleware (no body buffering): sets the id, adds the header, logs one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SANE.match(incoming) else uuid.uuid4().hex
        token = _current.set(rid)
        fields = logging_setup.enter({"request_id": rid})  # this request's log fields, carried to the worker
        started = time.monotonic()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error serving %.10s %.200s", scope["method"], scope["path"])  # bounded
            if status == 0:
                status = 500
                await _send_500(scope, send, rid)
        finally:
            elapsed = time.monotonic() - started
            metrics.observe_request(scope["method"], metrics.route_template(scope), status, elapsed)
            if scope["path"].startswith("/api/"):
                ms = int(elapsed * 1000)
                log.info("%.10s %.200s -> %s in %d ms", scope["method"], scope["path"], status, ms)  # bounded
            logging_setup.leave(fields)
            _current.reset(token)


async def _send_500(scope: Scope, send: Send, rid: str) -> None:
    if scope["path"].startswith("/api/"):
        body = json.dumps(
            {
                "type": "urn:esa:problem:internal_error",
                "title": "Internal error",
                "status": 500,
                "detail": f"something went wrong on our side; try again, and quote {rid} if it persists",
                "code": "internal_error",
                "request_id": rid,
            }
        ).encode()
        media = b"application/problem+json"
    else:
        body, media = b"Internal Server Error", b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", media),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", rid.encode()),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
