"""The dashboard's routes and URL builders (re-exported from esa_domain so alerts build the same links)."""

from esa_domain.views.routes import (
    ALERTS,
    CATALOG,
    FX,
    LOGIN,
    ORDER,
    ORDERS,
    OVERVIEW,
    STUCK,
    SUPPLIERS,
    order_url,
    orders_url,
)

__all__ = [
    "ALERTS",
    "CATALOG",
    "FX",
    "LOGIN",
    "ORDER",
    "ORDERS",
    "OVERVIEW",
    "STUCK",
    "SUPPLIERS",
    "order_url",
    "orders_url",
]
