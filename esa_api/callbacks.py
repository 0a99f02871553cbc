"""Supplier callbacks under /callbacks/<supplier> (Pulsa IF adds a secret path segment: its credential).

Plain Starlette routes, out of the OpenAPI schema: every purchase brings one, and FastAPI's dependency and
parameter machinery would cost more than the lookup it serves.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from esa_api.deps import runtime_for
from esa_domain.adapters.suppliers.base import CallbackRequest
from esa_domain.fulfillment.callbacks import handle_callback
from esa_domain.infra.runtime import Runtime

log = logging.getLogger(__name__)


async def supplier_callback(request: Request) -> Response:
    supplier: str = request.path_params["supplier"]
    rt: Runtime = runtime_for(request.app)
    callback = CallbackRequest(
        method=request.method,
        path=request.url.path,
        headers=dict(request.headers.items()),  # ASGI header names are lower-case already
        query=dict(request.query_params),
        body=await request.body(),
        remote_addr=request.client.host if request.client else None,
    )
    try:
        result = await run_in_threadpool(handle_callback, rt.fulfillment, supplier, callback)
    except Exception:
        log.exception(  # %.40s: the supplier segment is whatever the URL said
            "callback from %.40s not handled; the supplier may re-send, polling will catch up", supplier
        )
        return PlainTextResponse("temporary error", status_code=500)
    if result is None:
        return PlainTextResponse(f"unknown supplier {supplier[:40]!r}", status_code=404)
    return Response(result.reply_body, status_code=result.reply_status, media_type=result.reply_media_type)


def install(app: FastAPI) -> None:
    for path in ("/callbacks/{supplier}", "/callbacks/{supplier}/{secret}"):
        app.router.add_route(path, supplier_callback, methods=["GET", "POST"], include_in_schema=False)
