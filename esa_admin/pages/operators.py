"""Operators (admins only): create accounts, change roles, deactivate, reset passwords, see and end sessions.
Every change is audited (esa_domain.operations.operators)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import form_card, form_row, row_button, table
from esa_admin.deps import unit_of_work
from esa_domain.core.errors import DomainError
from esa_domain.infra.db import default_engine
from esa_domain.models.ops import ROLES
from esa_domain.operations import operators


class OperatorsState(AuthState):
    rows: list[dict[str, str]] = []
    error: str = ""
    # the account whose sessions / password dialog is open (0: none)
    sessions_of: int = 0
    sessions_name: str = ""
    sessions: list[dict[str, str]] = []
    password_of: int = 0
    password_name: str = ""
    password_error: str = ""
    audit: list[dict[str, str]] = []

    def _reload(self) -> None:
        with Session(default_engine()) as s:
            rows = operators.list_operators(s)
            sessions = operators.live_sessions(s, self.sessions_of) if self.sessions_of else []
            recent = operators.recent_actions(s, 30)
        self.audit = [
            {
                "at": fmt.when(a.at),
                "who": a.operator or "(no one logged in)",
                "what": fmt.label(a.action),
                "code": a.action,
                "on": fmt.order_number(a.payment_id) if a.payment_id else (a.subject or ""),
                "link": routes.order_url(a.payment_id) if a.payment_id else "",
                "reason": a.reason or "",
            }
            for a in recent
        ]
        self.rows = [
            {
                "id": str(r.id),
                "username": r.username,
                "name": r.display_name,
                "role": r.role,
                "active": "yes" if r.active else "",
                "state": "Active" if r.active else "Deactivated",
                "last_login": fmt.when(r.last_login_at),
                "sessions": str(r.live_sessions),
            }
            for r in rows
        ]
        self.sessions = [
            {
                "id": str(x.id),
                "started": fmt.when(x.created_at),
                "used": fmt.when(x.last_used_at),
                "expires": fmt.when(x.expires_at),
            }
            for x in sessions
        ]

    def _act(self, change, done: str):
        """Run one audited change as the logged-in admin; the flash says what happened or why not."""
        actor = self.authorize("admin")
        if actor is None:
            return False
        try:
            with unit_of_work() as uow:
                me = uow.session.get(type(actor), actor.id)
                change(uow.session, me)
                uow.commit()
        except DomainError as exc:
            self.say(exc.message, "error")
            self._reload()
            return False
        self.say(done, "ok")
        self._reload()
        return True

    @rx.event
    def load(self):
        if self.authorize("admin") is None:
            return self.denied()
        self.sessions_of = 0
        self._reload()
        return None

    @rx.event
    def create(self, form: dict):
        username = str(form.get("username", "")).strip()
        role = str(form.get("role", "") or "viewer")
        ok = self._act(
            lambda s, me: operators.add_operator(
                s,
                me,
                username,
                str(form.get("password", "")),
                role,
                str(form.get("display_name", "")).strip(),
            ),
            f"Operator {username.lower()} created as {role}.",
        )
        if not ok and self.logged_in:
            self.error = self.flash
        elif ok:
            self.error = ""
            return rx.call_script("document.getElementById('operator-create').reset()")
        return None if self.logged_in else self.denied()

    @rx.event
    def set_role(self, operator_id: str, role: str):
        self._act(
            lambda s, me: operators.change_role(s, me, int(operator_id), role), f"Role changed to {role}."
        )
        return None if self.logged_in else self.denied()

    @rx.event
    def deactivate(self, operator_id: str):
        self._act(
            lambda s, me: operators.set_active(s, me, int(operator_id), False),
            "Deactivated: their sessions ended and they cannot log in.",
        )
        return None if self.logged_in else self.denied()

    @rx.event
    def reactivate(self, operator_id: str):
        self._act(lambda s, me: operators.set_active(s, me, int(operator_id), True), "Reactivated.")
        return None if self.logged_in else self.denied()

    @rx.event
    def show_sessions(self, operator_id: str, username: str):
        if self.authorize("admin") is None:
            return self.denied()
        self.sessions_of, self.sessions_name = int(operator_id), username
        self._reload()
        return None

    @rx.event
    def hide_sessions(self):
        self.sessions_of = 0

    @rx.event
    def revoke(self, session_id: str):
        self._act(lambda s, me: operators.revoke_session(s, me, int(session_id)), "Session ended.")
        return None if self.logged_in else self.denied()

    @rx.event
    def ask_password(self, operator_id: str, username: str):
        if self.authorize("admin") is None:
            return self.denied()
        self.password_of, self.password_name, self.password_error = int(operator_id), username, ""
        return None

    @rx.event
    def close_password(self):
        self.password_of = 0

    @rx.event
    def reset_password(self, form: dict):
        target = self.password_of
        ok = self._act(
            lambda s, me: operators.reset_password(s, me, target, str(form.get("new_password", ""))),
            f"Password of {self.password_name} reset; their sessions ended.",
        )
        if ok:
            self.password_of = 0
        elif self.logged_in:
            self.password_error = self.flash
        return None if self.logged_in else self.denied()


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(r["username"], weight="bold"), rx.text(r["name"], size="1", color_scheme="gray")
        ),
        rx.table.cell(
            rx.select(
                list(ROLES),
                value=r["role"],
                on_change=lambda role: OperatorsState.set_role(r["id"], role),
                size="1",
                id="role-" + r["username"],
            )
        ),
        rx.table.cell(rx.badge(r["state"], color_scheme=rx.cond(r["active"] == "yes", "green", "gray"))),
        rx.table.cell(r["last_login"]),
        rx.table.cell(
            rx.button(
                r["sessions"] + " live",
                on_click=OperatorsState.show_sessions(r["id"], r["username"]),
                variant="ghost",
                size="1",
                id="sessions-" + r["username"],
            )
        ),
        rx.table.cell(
            rx.hstack(
                row_button(
                    "Reset password",
                    OperatorsState.ask_password(r["id"], r["username"]),
                    id="reset-" + r["username"],
                ),
                rx.cond(
                    r["active"] == "yes",
                    row_button(
                        "Deactivate",
                        OperatorsState.deactivate(r["id"]),
                        color_scheme="red",
                        id="deactivate-" + r["username"],
                    ),
                    row_button(
                        "Reactivate", OperatorsState.reactivate(r["id"]), id="reactivate-" + r["username"]
                    ),
                ),
                spacing="2",
                wrap="wrap",
            )
        ),
    )


def _session_row(x) -> rx.Component:
    return rx.table.row(
        rx.table.cell(x["started"]),
        rx.table.cell(x["used"]),
        rx.table.cell(x["expires"]),
        rx.table.cell(
            row_button("End", OperatorsState.revoke(x["id"]), color_scheme="red", id="revoke-" + x["id"])
        ),
    )


def _audit_row(a) -> rx.Component:
    return rx.table.row(
        rx.table.cell(a["at"]),
        rx.table.cell(a["who"]),
        rx.table.cell(rx.text(a["what"], title=a["code"])),
        rx.table.cell(rx.cond(a["link"] != "", rx.link(a["on"], href=a["link"]), rx.text(a["on"], size="1"))),
        rx.table.cell(rx.text(a["reason"], size="1")),
    )


def _create_form() -> rx.Component:
    return form_card(
        "New operator",
        form_row(
            rx.input(name="username", placeholder="Username", id="new-username"),
            rx.input(name="display_name", placeholder="Name shown", id="new-display-name"),
            rx.input(
                name="password", type="password", placeholder="Password (8+ characters)", id="new-password"
            ),
            rx.select(list(ROLES), name="role", default_value="viewer", id="new-role"),
            rx.button("Create", type="submit", id="create-operator"),
            align=None,
        ),
        rx.cond(OperatorsState.error != "", rx.callout(OperatorsState.error, color_scheme="red")),
        on_submit=OperatorsState.create,
        id="operator-create",
    )


def _sessions_panel() -> rx.Component:
    return rx.cond(
        OperatorsState.sessions_of != 0,
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("Live sessions of ", OperatorsState.sessions_name, size="3"),
                    rx.spacer(),
                    rx.icon("x", cursor="pointer", on_click=OperatorsState.hide_sessions),
                    width="100%",
                ),
                rx.cond(
                    OperatorsState.sessions.length() == 0,
                    rx.text("No live session.", size="2", color_scheme="gray"),
                    table(
                        ["Started (Taipei)", "Last used", "Expires", ""],
                        OperatorsState.sessions,
                        _session_row,
                        id="sessions-table",
                    ),
                ),
                width="100%",
            ),
            width="100%",
        ),
    )


def _password_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New password for ", OperatorsState.password_name),
            rx.dialog.description("Their sessions end; give them the new password in person.", size="2"),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="new_password",
                        type="password",
                        placeholder="At least 8 characters",
                        id="reset-password-input",
                        width="100%",
                    ),
                    rx.cond(
                        OperatorsState.password_error != "",
                        rx.callout(OperatorsState.password_error, color_scheme="red"),
                    ),
                    rx.hstack(
                        rx.button(
                            "Cancel", type="button", variant="soft", on_click=OperatorsState.close_password
                        ),
                        rx.button("Set password", type="submit", id="reset-password-confirm"),
                        justify="end",
                        width="100%",
                    ),
                    width="100%",
                ),
                on_submit=OperatorsState.reset_password,
            ),
        ),
        open=OperatorsState.password_of != 0,
    )


@template(routes.OPERATORS, "Operators", on_load=[OperatorsState.load])
def operators_page() -> rx.Component:
    return rx.cond(
        AuthState.is_admin,
        rx.vstack(
            _create_form(),
            table(
                ["Operator", "Role", "State", "Last login (Taipei)", "Sessions", ""],
                OperatorsState.rows,
                _row,
                id="operators-table",
            ),
            _sessions_panel(),
            _password_dialog(),
            rx.heading("Latest changes", size="3"),
            table(
                ["When (Taipei)", "Who", "What", "On", "Reason"],
                OperatorsState.audit,
                _audit_row,
                id="audit-table",
            ),
            rx.text(
                "Every change here is in the audit log (Orders → Audit log CSV).",
                size="1",
                color_scheme="gray",
            ),
            width="100%",
            spacing="3",
        ),
        rx.callout("Only admins manage operators.", color_scheme="amber"),
    )
