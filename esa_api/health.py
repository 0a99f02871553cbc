"""Liveness and readiness: is the process up, and can it reach PostgreSQL."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from esa_api.deps import get_runtime
from esa_domain.infra.runtime import Runtime

router = APIRouter(tags=["health"])


def _ping(rt: Runtime) -> None:
    with rt.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/api/health")
async def health(rt: Runtime = Depends(get_runtime)) -> JSONResponse:
    try:
        await run_in_threadpool(_ping, rt)
    except Exception as exc:  # report, don't crash: this is what a load balancer polls
        return JSONResponse({"status": "degraded", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
