"""`create_app()`: the customer API (/api/v1), the ECPay routes (/ecpay) and supplier callbacks (/callbacks)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from esa_api import callbacks, customer, docs, ecpay_routes, health, miniapp, security
from esa_api.deps import runtime_for
from esa_domain.infra.logging_setup import configure_logging
from esa_domain.infra.production import refuse_unsafe_production
from esa_domain.infra.runtime import Runtime


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from esa_domain.infra.settings import get_settings

    installed = app.state.runtime
    settings = installed.settings if installed is not None else get_settings()
    if os.environ.get("ESA_PROCESS_KIND") == "web" or not logging.getLogger().handlers:
        # a server process (esa up's web child, or uvicorn/reflex with nothing configured on the root logger):
        # ESA's one logging configuration; a test runner's own logging is left alone
        configure_logging("web", settings=settings)
    # again here: tests and servers may install the runtime after the factory ran
    await anyio.to_thread.run_sync(
        refuse_unsafe_production, settings, installed.engine if installed is not None else None
    )
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
    if installed is not None or (settings.database_url and settings.redis_url):
        # the runtime and the supplier adapters (their HTTP clients, TLS contexts, modules) are built now, not
        # inside the first notification and the first callback; a configuration error shows at start
        await anyio.to_thread.run_sync(_build_runtime, app)
    yield


def _build_runtime(app: FastAPI) -> None:
    rt = runtime_for(app)
    rt.ecpay  # noqa: B018 (cached properties: built here, once)
    rt.fulfillment  # noqa: B018


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """`runtime`: engine, publisher and settings; built from the environment on first use when None.

    Raises UnsafeProduction when ESA_ENV=production and the settings or the database are the demo's.
    """
    from esa_domain.infra.settings import get_settings

    refuse_unsafe_production(
        runtime.settings if runtime is not None else get_settings(),
        runtime.engine if runtime is not None else None,
    )
    if os.environ.get("ESA_PROCESS_KIND") == "web":
        # esa up's web child: under Reflex this app is mounted, and a mounted app's lifespan never runs
        configure_logging("web")
    app = FastAPI(
        lifespan=_lifespan,
        # no OpenTelemetry here: FastAPI's native telemetry would otherwise look for a provider per request
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="ESA API",
        version="1.0",
        description="Customer API for the LINE Mini App, ECPay gateway routes and supplier callbacks.",
        docs_url=None,  # docs.install serves Swagger UI at /api/docs from local files, not a CDN
        openapi_url="/api/openapi.json",
        redoc_url=None,  # ReDoc would load from a CDN too; Swagger UI is the one set of docs
    )
    app.state.runtime = runtime
    ecpay_routes.install(app)  # the notification first: the route every payment takes
    callbacks.install(app)  # and the callback every purchase brings
    app.include_router(health.router)
    customer.install(app)
    miniapp.mount(app)
    docs.install(app)
    security.install(app)  # last: outermost, so every answer (CORS and 413 included) carries its headers
    return app
