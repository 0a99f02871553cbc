"""Dashboard URLs, framework-free: the dashboard links and the LINE alert links use the same builders."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from esa_domain.operations.links import order_path

LOGIN = "/login"
OVERVIEW = "/"
STUCK = "/stuck"
ORDERS = "/orders"
ORDER = "/orders/[id]"  # the dynamic route pattern
SUPPLIERS = "/suppliers"
FX = "/fx"
CATALOG = "/catalog"
ALERTS = "/alerts"
CLOSE = "/close"  # the daily close: totals per business day and the differences found
CUSTOMER = "/customers/[id]"  # the dynamic route pattern
OPERATORS = "/operators"
SETUP = "/setup"
PRICING = "/pricing"
PROMOS = "/promos"
INVOICES = "/invoices"  # the e-invoices of a business day (issue 19), ?day=YYYY-MM-DD&status=


def customer_url(customer_id: int, base_url: str = "") -> str:
    """A customer's page: who they are and all their orders."""
    return f"{base_url.rstrip('/')}/customers/{int(customer_id)}"


def order_url(payment_id: int, base_url: str = "") -> str:
    """The order page of a payment; `base_url` (e.g. ESA_PUBLIC_URL) makes it absolute for LINE messages."""
    return base_url.rstrip("/") + order_path(int(payment_id))


def orders_url(base_url: str = "", **filters: str | int) -> str:
    """The orders list, pre-filtered (e.g. status="PAID", q="E2401...")."""
    query = urlencode({k: v for k, v in filters.items() if v not in ("", None)}, quote_via=quote)
    return f"{base_url.rstrip('/')}{ORDERS}" + (f"?{query}" if query else "")


def invoices_url(day: str = "", status: str = "", base_url: str = "") -> str:
    """The e-invoice list of a business day (YYYY-MM-DD; today when empty), filtered by status ("all": none)."""
    query = urlencode(
        {k: v for k, v in (("day", day), ("status", status)) if v and v != "all"}, quote_via=quote
    )
    return f"{base_url.rstrip('/')}{INVOICES}" + (f"?{query}" if query else "")
