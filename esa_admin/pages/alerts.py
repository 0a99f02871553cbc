"""Alerts: every operator alert raised (newest first), its delivery status, and a link to the order; an operator
re-sends one LINE did not take and acknowledges any (both audited)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import pager, table
from esa_admin.deps import unit_of_work
from esa_domain.infra.db import default_engine
from esa_domain.operations import alerts as alert_ops
from esa_domain.views import alerts


class AlertsState(AuthState):
    rows: list[dict[str, str]] = []
    pages: list[int] = []  # before_id of each page visited; 0 = newest
    next_before: int = 0

    def _fetch(self, before: int) -> None:
        with Session(default_engine()) as s:
            page, nxt = alerts.alerts(s, before_id=before or None)
        self.rows = [
            {
                "id": str(a.id),
                "condition": a.condition,
                "title": a.title,
                "body": a.body,
                "status": a.status,
                "created": fmt.when(a.created_at),
                "sent": fmt.when(a.sent_at),
                "error": a.error or "",
                "link": routes.order_url(a.payment_id) if a.payment_id else "",
                "acked": f"{a.acked_by} {fmt.when(a.acked_at)}" if a.acked_at else "",
                "note": a.ack_note or "",
            }
            for a in page
        ]
        self.next_before = nxt or 0

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        self.pages = [0]
        self._fetch(0)
        return None

    def _act(self, alert_id: str, what: str):
        operator = self.authorize("operator")
        if operator is None:
            return self.denied()
        try:
            with unit_of_work() as uow:
                if what == "resend":
                    alert_ops.resend_alert(uow.session, int(alert_id), operator)
                    message = f"Alert {alert_id} queued to be sent to LINE again."
                else:
                    done = alert_ops.acknowledge_alert(uow.session, int(alert_id), operator)
                    message = f"Alert {alert_id} acknowledged." if done else f"Alert {alert_id} already was."
                uow.commit()
        except (ValueError, LookupError, PermissionError) as exc:
            self.say(str(exc), "error")
            return None
        self.say(message, "ok")
        self._fetch(self.pages[-1] if self.pages else 0)
        return None

    @rx.event
    def resend(self, alert_id: str):
        return self._act(alert_id, "resend")

    @rx.event
    def acknowledge(self, alert_id: str):
        return self._act(alert_id, "ack")

    @rx.event
    def older(self):
        if self.authorize("viewer") is None:
            return self.denied()
        if self.next_before:
            self.pages = [*self.pages, self.next_before]
            self._fetch(self.next_before)
        return None

    @rx.event
    def newer(self):
        if self.authorize("viewer") is None:
            return self.denied()
        if len(self.pages) > 1:
            self.pages = self.pages[:-1]
            self._fetch(self.pages[-1])
        return None


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r["created"]),
        rx.table.cell(rx.badge(r["condition"], color_scheme="orange", variant="soft")),
        rx.table.cell(rx.text(r["title"], weight="bold"), rx.text(r["body"], size="1")),
        rx.table.cell(
            rx.badge(
                r["status"], color_scheme=rx.match(r["status"], ("sent", "green"), ("failed", "red"), "gray")
            ),
            rx.text(r["error"], size="1", color_scheme="red"),
        ),
        rx.table.cell(r["sent"]),
        rx.table.cell(rx.cond(r["link"] != "", rx.link("order", href=r["link"]))),
        rx.table.cell(
            rx.cond(
                r["acked"] != "",
                rx.text("acknowledged by " + r["acked"], size="1", color_scheme="green"),
                rx.cond(
                    AuthState.can_operate,
                    rx.button(
                        "Acknowledge",
                        size="1",
                        variant="soft",
                        on_click=AlertsState.acknowledge(r["id"]),
                        class_name="alert-ack",
                    ),
                ),
            ),
            rx.cond(
                AuthState.can_operate & (r["status"] != "sent"),
                rx.button(
                    "Send again",
                    size="1",
                    variant="outline",
                    on_click=AlertsState.resend(r["id"]),
                    class_name="alert-resend",
                ),
            ),
        ),
        custom_attrs={"data-alert": r["id"]},
    )


@template(routes.ALERTS, "Alerts", on_load=[AlertsState.load])
def alerts_page() -> rx.Component:
    return rx.vstack(
        table(
            ["Raised", "Condition", "Alert", "Status", "Sent", "", ""],
            AlertsState.rows,
            _row,
            id="alerts-table",
        ),
        pager(
            AlertsState.newer,
            AlertsState.older,
            AlertsState.pages.length() <= 1,
            AlertsState.next_before == 0,
        ),
        width="100%",
    )
