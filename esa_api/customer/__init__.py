"""The customer API for the LINE Mini App (/api/v1): routes, auth, rate limits, problem JSON, request ids."""

from __future__ import annotations

from fastapi import FastAPI

from esa_api.customer import (
    routes_auth,
    routes_bills,
    routes_invoice,
    routes_me,
    routes_orders,
    routes_saved,
    routes_shop,
)
from esa_api.customer.cors import MiniAppCors
from esa_api.customer.problems import install_problem_handlers
from esa_api.customer.request_id import RequestIdMiddleware, install_log_record_factory


def install(app: FastAPI) -> None:
    """Add the /api/v1 routers, their error answers, CORS and the X-Request-ID middleware to `app`."""
    app.include_router(routes_auth.router)
    app.include_router(routes_me.router)
    app.include_router(routes_shop.router)
    app.include_router(routes_orders.router)
    app.include_router(routes_bills.router)
    app.include_router(routes_saved.router)
    app.include_router(routes_invoice.router)
    install_problem_handlers(app)
    app.add_middleware(MiniAppCors)
    app.add_middleware(RequestIdMiddleware)  # added last: outermost, so even CORS answers carry the id
    install_log_record_factory()
