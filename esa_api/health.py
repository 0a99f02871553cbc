"""Liveness, readiness and metrics of the web app, and the workers' and scheduler's heartbeats.

- `GET /api/health/live`: the process answers (no dependency checked: a restart would not fix one).
- `GET /api/health/ready`: PostgreSQL and Redis reachable and the database at the latest migration; 503 with
  what is wrong otherwise (a load balancer stops sending traffic, nothing restarts).
- `GET /api/health/workers`: at least one worker and the scheduler beat in Redis (esa_domain/infra/heartbeat.py);
  503 otherwise. Kept apart from the web app's readiness: a worker outage must not take the web app (and ECPay's
  notifications, which wait in the outbox meanwhile) out of the load balancer.
- `GET /api/health`: the original check (the database), kept for the callers that poll it.
- `GET /metrics`: this process kind's Prometheus metrics, for loopback scrapers without a proxy header, or
  with `Authorization: Bearer <ESA_METRICS_TOKEN>`.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from esa_api.deps import get_runtime
from esa_domain.infra import heartbeat, metrics
from esa_domain.infra.runtime import Runtime

router = APIRouter(tags=["health"])
ROOT = Path(__file__).resolve().parent.parent


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


@router.get("/api/health/live", include_in_schema=False)
async def live() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@lru_cache(maxsize=1)
def _migration_heads() -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_heads())


@lru_cache(maxsize=4)
def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _readiness(rt: Runtime) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with rt.engine.connect() as conn:
            applied = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        heads = _migration_heads()
        checks["database"] = "ok"
        checks["migrations"] = (
            "ok"
            if applied == heads
            else f"at {','.join(sorted(applied)) or 'none'}, head is {','.join(sorted(heads))}"
        )
    except Exception as exc:
        checks["database"] = type(exc).__name__
        checks["migrations"] = "unknown"
    url = rt.settings.redis_url
    if not url:
        checks["redis"] = "not configured (REDIS_URL)"
    else:
        try:
            _redis(url).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = type(exc).__name__
    return checks


@router.get("/api/health/ready", include_in_schema=False)
async def ready(rt: Runtime = Depends(get_runtime)) -> JSONResponse:
    checks = await run_in_threadpool(_readiness, rt)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "not ready", **checks}, status_code=200 if ok else 503)


def _heartbeats(rt: Runtime) -> dict[str, Any]:
    client = _redis(rt.settings.redis_url)
    return {kind: heartbeat.alive(client, kind) for kind in heartbeat.KINDS}


@router.get("/api/health/workers", include_in_schema=False)
async def workers(rt: Runtime = Depends(get_runtime)) -> JSONResponse:
    if not rt.settings.redis_url:
        return JSONResponse({"status": "not ready", "redis": "not configured (REDIS_URL)"}, status_code=503)
    try:
        beats = await run_in_threadpool(_heartbeats, rt)
    except Exception as exc:
        return JSONResponse({"status": "not ready", "redis": type(exc).__name__}, status_code=503)
    ok = all(beats[kind] for kind in heartbeat.KINDS)
    body = {"status": "ok" if ok else "not ready"} | {
        f"{kind}s": [{"host": b["host"], "pid": b["pid"]} for b in beats[kind]] for kind in heartbeat.KINDS
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def _may_scrape(request: Request, rt: Runtime) -> bool:
    token = rt.settings.metrics_token.get_secret_value()
    given = request.headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    if "x-forwarded-for" in request.headers or request.client is None:
        return False  # through a proxy: not a local scraper, whatever the peer address
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", include_in_schema=False)
async def metrics_page(request: Request, rt: Runtime = Depends(get_runtime)) -> Response:
    if not _may_scrape(request, rt):
        return PlainTextResponse(
            "metrics are served to local scrapers, or with Authorization: Bearer <ESA_METRICS_TOKEN>",
            status_code=403,
        )
    body, content_type = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=content_type)
