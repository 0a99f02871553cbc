"""The dashboard's routes and URL builders (re-exported from esa_domain so alerts build the same links)."""

from esa_domain.views.routes import (
    ALERTS,
    CATALOG,
    CLOSE,
    CUSTOMER,
    FX,
    LOGIN,
    OPERATORS,
    ORDER,
    ORDERS,
    OVERVIEW,
    STUCK,
    SUPPLIERS,
    customer_url,
    order_url,
    orders_url,
)

__all__ = [
    "ALERTS",
    "CATALOG",
    "CLOSE",
    "CUSTOMER",
    "FX",
    "LOGIN",
    "OPERATORS",
    "ORDER",
    "ORDERS",
    "OVERVIEW",
    "STUCK",
    "SUPPLIERS",
    "customer_url",
    "order_url",
    "orders_url",
]
