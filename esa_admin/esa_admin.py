"""The Reflex app: the operator dashboard, with the ESA API (esa_api) mounted into the same server."""

from __future__ import annotations

import reflex as rx

from esa_admin.pages import (  # noqa: F401  (importing a page module registers its pages)
    alerts,
    catalog,
    fx,
    login,
    order,
    orders,
    overview,
    stuck,
    suppliers,
)
from esa_api import create_app

app = rx.App(
    api_transformer=create_app(),
    stylesheets=[],
)
