"""The session: a token in a cookie, verified against operator_sessions on every page load and every event."""

from __future__ import annotations

from datetime import timedelta

import reflex as rx
from sqlmodel import Session

from esa_admin import routes
from esa_admin.deps import unit_of_work
from esa_domain.infra.db import default_engine
from esa_domain.infra.settings import get_settings
from esa_domain.models import Operator
from esa_domain.operations import operators

SESSION_COOKIE = "esa_session"


class AuthState(rx.State):
    """Base state of every dashboard page: who is logged in, re-checked against the database on each event."""

    token: str = rx.Cookie("", name=SESSION_COOKIE, path="/", same_site="strict", max_age=12 * 3600)
    username: str = ""
    display_name: str = ""
    role: str = ""
    flash: str = ""  # a message the layout shows (permission refused, action done)
    flash_kind: str = "info"

    def current_operator(self) -> Operator | None:
        """The operator behind this token now (None if logged out, expired, revoked or deactivated)."""
        with Session(default_engine()) as session:
            operator = operators.operator_for_token(session, self.token)
        if operator is None:
            self.username, self.display_name, self.role = "", "", ""
        else:
            self.username, self.display_name, self.role = (
                operator.username,
                operator.display_name,
                operator.role,
            )
        return operator

    def authorize(self, role: str = "viewer") -> Operator | None:
        """The operator if their role is at least `role`; None (and a flash saying why) otherwise."""
        operator = self.current_operator()
        if operator is None:
            return None
        if not operators.has_role(operator, role):
            self.say(f"This needs the '{role}' role; you are '{operator.role}'. Ask an admin.", "error")
            return None
        return operator

    def denied(self):
        """What a handler returns when authorize() refused: the login page if the session is gone."""
        return None if self.logged_in else rx.redirect(routes.LOGIN)

    def say(self, message: str, kind: str = "info") -> None:
        self.flash, self.flash_kind = message, kind

    @rx.var
    def logged_in(self) -> bool:
        return bool(self.username)

    @rx.var
    def can_operate(self) -> bool:
        return self.role in ("operator", "admin")

    @rx.var
    def is_admin(self) -> bool:
        return self.role == "admin"

    @rx.event
    def require_login(self):
        """on_load of every protected page: a logged-out visitor is sent to the login page."""
        if self.current_operator() is None:
            return rx.redirect(routes.LOGIN)
        return None

    @rx.event
    def clear_flash(self) -> None:
        self.flash = ""

    @rx.event
    def logout(self):
        with unit_of_work() as uow:
            operator = operators.operator_for_token(uow.session, self.token)
            if operator is not None:
                operators.record_action(uow.session, operator.id, "logout")
            operators.close_session(uow.session, self.token)
            uow.commit()
        self.token = ""
        self.username, self.display_name, self.role = "", "", ""
        return rx.redirect(routes.LOGIN)


class LoginState(AuthState):
    error: str = ""

    @rx.event
    def login(self, form: dict):
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        with unit_of_work() as uow:
            operator = operators.authenticate(uow.session, username, password)
            if operator is None:
                operators.record_action(uow.session, None, "login_failed", subject=f"user:{username[:60]}")
                uow.commit()
                self.error = "Wrong username or password (or the account is deactivated)."
                return None
            hours = get_settings().session_hours
            token = operators.open_session(uow.session, operator, ttl=timedelta(hours=hours))
            operators.record_action(uow.session, operator.id, "login")
            uow.commit()
        self.token = token
        self.error = ""
        self.username, self.display_name, self.role = operator.username, operator.display_name, operator.role
        return rx.redirect(routes.OVERVIEW)

    @rx.event
    def redirect_if_logged_in(self):
        if self.current_operator() is not None:
            return rx.redirect(routes.OVERVIEW)
        return None
