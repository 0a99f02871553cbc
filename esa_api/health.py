"""Liveness and readiness: is the process up, and can it reach PostgreSQL."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from esa_domain.db import default_engine

router = APIRouter(tags=["health"])


@router.get("/api/health")
def health() -> JSONResponse:
    try:
        with default_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't crash: this is what a load balancer polls
        return JSONResponse({"status": "degraded", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
