"""GET /_export/<orders|refunds|audit>.csv?from=YYYY-MM-DD&to=YYYY-MM-DD: a CSV download for the logged-in operator.

The session is the dashboard's HttpOnly cookie (SameSite=Strict, so another site's link cannot use it), checked
like every dashboard event: unexpired, unrevoked, not idle, an active operator with the export's role. Every
download is audited. Answers a person can act on: 401 (log in), 403 (role), 404 (no such export), 422 (dates).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs

from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from esa_admin.deps import unit_of_work
from esa_admin.session_cookie import token_from_cookie_header
from esa_domain.core.errors import InvalidRequest
from esa_domain.infra.db import default_engine
from esa_domain.infra.settings import get_settings
from esa_domain.operations import operators
from esa_domain.views.exports import EXPORTS, export_range, to_csv
from esa_domain.views.orders import filter_day

EXPORT_PREFIX = "/_export/"


def export_url(name: str, date_from: str = "", date_to: str = "") -> str:
    """The download link of an export ("orders", "refunds", "audit") for a range of Taipei days."""
    query = "&".join(f"{k}={v}" for k, v in (("from", date_from), ("to", date_to)) if v)
    return f"{EXPORT_PREFIX}{name}.csv" + (f"?{query}" if query else "")


def _export(name: str, cookie: str, query: str) -> tuple[int, str, str]:
    """(HTTP status, content type, body) for one request."""
    if name not in EXPORTS:
        return 404, "text/plain", f"There is no '{name}' export: use orders, refunds or audit."
    role, rows = EXPORTS[name]
    params = {k: v[0] for k, v in parse_qs(query).items()}
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    with unit_of_work() as uow:
        operator = operators.resume_session(uow.session, token_from_cookie_header(cookie), idle)
        if operator is None:
            return 401, "text/plain", "Your session has ended: log in to the dashboard again, then download."
        if not operators.has_role(operator, role):
            return 403, "text/plain", f"This export needs the '{role}' role; you are '{operator.role}'."
        try:
            start, end = export_range(
                filter_day(params.get("from", ""), "From"), filter_day(params.get("to", ""), "To")
            )
        except InvalidRequest as exc:
            return 422, "text/plain", exc.message
        operators.record_action(
            uow.session,
            operator.id,
            "export_csv",
            subject=f"export:{name}",
            detail={"from": start.isoformat(), "to": end.isoformat()},
        )
        uow.commit()
    with Session(default_engine()) as s:
        body = to_csv(rows(s, start, end))
    return 200, f"text/csv; charset=utf-8\n{name}-{start.isoformat()}-to-{end.isoformat()}.csv", body


class ExportEndpoint:
    """ASGI middleware answering GET /_export/<name>.csv; every other request passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(EXPORT_PREFIX):
            await self.app(scope, receive, send)
            return
        if scope.get("method") != "GET":
            await _answer(send, 405, "text/plain", "Downloads are GET requests.")
            return
        name = path[len(EXPORT_PREFIX) :].removesuffix(".csv")
        cookie = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        status, content_type, body = await asyncio.to_thread(_export, name, cookie, query)
        await _answer(send, status, content_type, body)


async def _answer(send: Send, status: int, content_type: str, body: str) -> None:
    kind, _, filename = content_type.partition("\n")
    headers = [(b"content-type", kind.encode()), (b"cache-control", b"no-store")]
    if filename:
        headers.append((b"content-disposition", f'attachment; filename="{filename}"'.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode("utf-8")})


def serve_exports() -> Callable[[ASGIApp], ASGIApp]:
    """An api_transformer for rx.App that answers /_export/."""
    return ExportEndpoint
