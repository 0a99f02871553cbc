"""The Reflex app: the operator dashboard, with the ESA API (esa_api) mounted into the same server."""

from __future__ import annotations

import reflex as rx

from esa_admin.components.layout import icon_links
from esa_admin.exports import serve_exports
from esa_admin.pages import (
    alerts,
    catalog,
    close,
    customer,
    fx,
    invoices,
    login,
    operators,
    order,
    orders,
    overview,
    pricing,
    promos,
    setup,
    stuck,
    suppliers,
)
from esa_admin.session_cookie import serve_session_cookie
from esa_admin.socket_origin import guard_socket_origin
from esa_api import create_app
from esa_domain.infra.settings import get_settings

PAGES = [
    login.login_page,
    overview.overview_page,
    stuck.stuck_page,
    orders.orders_page,
    order.order_page,
    suppliers.suppliers_page,
    fx.fx_page,
    catalog.catalog_page,
    alerts.alerts_page,
    close.close_page,
    invoices.invoices_page,
    customer.customer_page,
    operators.operators_page,
    setup.setup_page,
    pricing.pricing_page,
    promos.promos_page,
]

app = rx.App(
    # /_session sets the HttpOnly session cookie; the websocket takes only the dashboard's own origin (ESA_PUBLIC_URL)
    api_transformer=[
        create_app(),
        serve_session_cookie(get_settings().public_url),
        serve_exports(),  # /_export/*.csv, for the logged-in operator's session cookie
        guard_socket_origin(get_settings().public_url),
    ],
    stylesheets=[],
    head_components=icon_links(),
)
for page in PAGES:
    page.add_to(app)
