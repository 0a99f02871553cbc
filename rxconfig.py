"""Reflex configuration for the operator dashboard (the API is mounted into the same server).

The dashboard reads and writes through esa_domain (DATABASE_URL via esa_domain.infra.settings), so no Reflex db_url.
"""

import reflex as rx

from esa_admin.socket_origin import allowed_origins, origin_of
from esa_domain.infra.settings import get_settings


def _allowed_origins() -> tuple[str, ...]:
    """The origins Reflex's CORS (on every route it serves) and its websocket accept: the dashboard's own
    (ESA_PUBLIC_URL) and the Mini App's (MINIAPP_ORIGINS), never Reflex's default "*", which with credentials
    answers any site. /api/v1 narrows it further to the Mini App's (esa_api/customer/cors.py)."""
    settings = get_settings()
    extra = (origin_of(o) for o in settings.miniapp_origins.split(",") if o.strip())
    return tuple(dict.fromkeys((*sorted(allowed_origins(settings.public_url)), *extra)))


config = rx.Config(
    app_name="esa_admin",
    telemetry_enabled=False,
    # internal tool behind a login: nothing for a sitemap to list
    disable_plugins=[rx.plugins.SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal", radius="medium"))],
    show_built_with_reflex=False,
    cors_allowed_origins=_allowed_origins(),
)
