"""`create_app()`: the customer API (/api/v1), the ECPay routes (/ecpay) and supplier callbacks (/callbacks)."""

from __future__ import annotations

from fastapi import FastAPI

from esa_api import callbacks, customer, ecpay_routes, health, miniapp
from esa_domain.runtime import Runtime


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """`runtime`: engine, publisher and settings; built from the environment on first use when None."""
    app = FastAPI(
        title="ESA API",
        version="1.0",
        description="Customer API for the LINE Mini App, ECPay gateway routes and supplier callbacks.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.include_router(health.router)
    app.include_router(ecpay_routes.router)
    customer.install(app)
    miniapp.mount(app)
    app.include_router(callbacks.router)
    return app
