"""The login page: the only page a logged-out visitor sees."""

from __future__ import annotations

import reflex as rx

from esa_admin import routes
from esa_admin.auth import LoginState
from esa_admin.pages import DashboardPage


def login() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("ESA operations", size="5"),
                    rx.text("Log in with your operator account.", color_scheme="gray", size="2"),
                    rx.input(
                        placeholder="Username",
                        name="username",
                        id="username",
                        width="100%",
                        auto_complete="username",
                    ),
                    rx.input(
                        placeholder="Password",
                        name="password",
                        id="password",
                        type="password",
                        width="100%",
                        auto_complete="current-password",
                    ),
                    rx.cond(
                        LoginState.error != "",
                        rx.callout(LoginState.error, color_scheme="red", id="login-error", width="100%"),
                    ),
                    rx.button("Log in", type="submit", width="100%", id="login-submit"),
                    spacing="3",
                    width="100%",
                ),
                on_submit=LoginState.login,
                reset_on_submit=False,
            ),
            width="340px",
        ),
        height="100vh",
        background=rx.color("gray", 2),
    )


login_page = DashboardPage(
    render=login, route=routes.LOGIN, title="Log in · ESA", on_load=(LoginState.redirect_if_logged_in,)
)
