"""The `template()` layout: a sidebar (a menu bar on a phone), the logged-in operator, a flash message, and the
login guard."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import reflex as rx

from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.pages import DashboardPage

NAV = [
    ("Overview", routes.OVERVIEW, "layout-dashboard"),
    ("Stuck payments", routes.STUCK, "triangle-alert"),
    ("Orders", routes.ORDERS, "receipt"),
    ("Suppliers", routes.SUPPLIERS, "truck"),
    ("FX & margins", routes.FX, "circle-dollar-sign"),
    ("Catalog", routes.CATALOG, "package"),
    ("Shop set-up", routes.SETUP, "store"),
    ("Pricing", routes.PRICING, "tags"),
    ("Promos", routes.PROMOS, "ticket-percent"),
    ("Alerts", routes.ALERTS, "bell"),
    ("Daily close", routes.CLOSE, "calculator"),
    ("E-invoices", routes.INVOICES, "file-text"),
    ("Operators", routes.OPERATORS, "users"),
]
# below this width the sidebar becomes a menu bar at the top (Radix's "md" breakpoint, 768 px)
WIDE = "md"


def icon_links() -> list[rx.Component]:
    """The <head> links to the ESA icons in assets/ (Reflex serves that folder at the site root)."""
    return [
        rx.el.link(rel="icon", href="/favicon.ico", sizes="32x32"),
        rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml"),
        rx.el.link(rel="apple-touch-icon", href="/apple-touch-icon.png"),
        rx.el.link(rel="manifest", href="/site.webmanifest"),
    ]


def _nav_item(label: str, href: str, icon: str) -> rx.Component:
    active = rx.State.router.page.path == href
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2"), spacing="2", align="center"),
        href=href,
        underline="none",
        color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 12)),
        background=rx.cond(active, rx.color("accent", 3), "transparent"),
        padding="6px 10px",
        border_radius="6px",
        width="100%",
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.heading("ESA operations", size="4", padding_bottom="8px"),
        *[_nav_item(*n) for n in NAV],
        rx.spacer(),
        rx.divider(),
        rx.text(AuthState.display_name, weight="bold", size="2", id="whoami"),
        rx.badge(AuthState.role, variant="soft", id="role-badge"),
        rx.button("Log out", on_click=AuthState.logout, variant="outline", size="1", id="logout"),
        width="220px",
        min_width="220px",
        height="100vh",
        position="sticky",
        top="0",
        padding="16px",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
        spacing="1",
        display=rx.breakpoints(initial="none", **{WIDE: "flex"}),
        id="sidebar",
    )


def menu_bar() -> rx.Component:
    """On a phone: one line at the top with the pages in a menu, so the page keeps the whole width."""
    return rx.hstack(
        rx.menu.root(
            rx.menu.trigger(
                rx.button(rx.icon("menu", size=18), "Menu", variant="soft", size="2", id="menu-button")
            ),
            rx.menu.content(
                *[rx.menu.item(label, on_click=rx.redirect(href)) for label, href, _ in NAV],
                rx.menu.separator(),
                rx.menu.item("Log out", on_click=AuthState.logout, color="red"),
            ),
        ),
        rx.text("ESA operations", weight="bold", size="2"),
        rx.spacer(),
        rx.badge(AuthState.role, variant="soft"),
        width="100%",
        align="center",
        padding="8px 12px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
        position="sticky",
        top="0",
        z_index="10",
        display=rx.breakpoints(initial="flex", **{WIDE: "none"}),
        id="menu-bar",
    )


def flash() -> rx.Component:
    return rx.cond(
        AuthState.flash != "",
        rx.callout(
            rx.hstack(
                rx.text(AuthState.flash, id="flash"),
                rx.spacer(),
                rx.icon("x", size=14, cursor="pointer", on_click=AuthState.clear_flash),
                width="100%",
            ),
            color_scheme=rx.match(AuthState.flash_kind, ("error", "red"), ("ok", "green"), "blue"),
            width="100%",
            margin_bottom="12px",
        ),
    )


def template(
    route: str, title: str, on_load: list | None = None
) -> Callable[[Callable[[], rx.Component]], DashboardPage]:
    """A protected page: the login check runs first on load; content shows only when logged in."""

    def decorator(page: Callable[[], rx.Component]) -> DashboardPage:
        @wraps(page)
        def wrapped() -> rx.Component:
            return rx.cond(
                AuthState.logged_in,
                rx.flex(
                    sidebar(),
                    menu_bar(),
                    rx.box(
                        flash(),
                        rx.heading(title, size="6", margin_bottom="16px", id="page-title"),
                        page(),
                        padding=rx.breakpoints(initial="12px", **{WIDE: "24px"}),
                        width="100%",
                        min_width="0",
                    ),
                    direction=rx.breakpoints(initial="column", **{WIDE: "row"}),
                    spacing="0",
                    align="start",
                    width="100%",
                ),
                rx.center(rx.spinner(size="3"), height="100vh"),
            )

        return DashboardPage(
            render=wrapped,
            route=route,
            title=f"{title} · ESA",
            on_load=(AuthState.require_login, *(on_load or [])),
        )

    return decorator
