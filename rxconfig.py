"""Reflex configuration for the operator dashboard (the API is mounted into the same server).

The dashboard reads and writes through esa_domain (DATABASE_URL via esa_domain.infra.settings), so no Reflex db_url.
"""

import reflex as rx

config = rx.Config(
    app_name="esa_admin",
    telemetry_enabled=False,
    # internal tool behind a login: nothing for a sitemap to list
    disable_plugins=[rx.plugins.SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal", radius="medium"))],
    show_built_with_reflex=False,
)
