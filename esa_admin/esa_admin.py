"""The Reflex app: the operator dashboard, with the ESA API (esa_api) mounted into the same server."""

from __future__ import annotations

import reflex as rx

from esa_admin.pages import login, order, orders, overview, stuck  # noqa: F401  (importing registers pages)
from esa_api import create_app

app = rx.App(
    api_transformer=create_app(),
    stylesheets=[],
)
