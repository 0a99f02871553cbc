"""`create_app()`: the customer API (/api/v1), the ECPay routes (/ecpay) and supplier callbacks (/callbacks)."""

from __future__ import annotations

from fastapi import FastAPI

from esa_api import health


def create_app() -> FastAPI:
    app = FastAPI(
        title="ESA API",
        version="1.0",
        description="Customer API for the LINE Mini App, ECPay gateway routes and supplier callbacks.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.include_router(health.router)
    return app
