"""Supplier callbacks under /callbacks/<supplier> (Pulsa IF adds a secret path segment: its credential)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from esa_api.deps import runtime_for
from esa_domain.runtime import Runtime
from esa_domain.supplier_callbacks import handle_callback
from esa_domain.suppliers.base import CallbackRequest

log = logging.getLogger(__name__)
router = APIRouter(tags=["supplier callbacks"], include_in_schema=False)


async def _handle(supplier: str, request: Request, rt: Runtime) -> Response:
    callback = CallbackRequest(
        method=request.method,
        path=request.url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=await request.body(),
        remote_addr=request.client.host if request.client else None,
    )
    try:
        result = await run_in_threadpool(handle_callback, rt.fulfillment, supplier, callback)
    except Exception:
        log.exception(
            "callback from %s not handled; the supplier may re-send, polling will catch up", supplier
        )
        return PlainTextResponse("temporary error", status_code=500)
    if result is None:
        return PlainTextResponse(f"unknown supplier {supplier!r}", status_code=404)
    return Response(result.reply_body, status_code=result.reply_status, media_type=result.reply_media_type)


# the runtime is read from the app, not injected: a dependency costs more than the lookup on every callback
@router.api_route("/callbacks/{supplier}", methods=["GET", "POST"])
async def supplier_callback(supplier: str, request: Request) -> Response:
    return await _handle(supplier, request, runtime_for(request.app))


@router.api_route("/callbacks/{supplier}/{secret}", methods=["GET", "POST"])
async def supplier_callback_with_secret(supplier: str, secret: str, request: Request) -> Response:
    return await _handle(supplier, request, runtime_for(request.app))
