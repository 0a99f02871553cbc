"""E-invoices (issue 19): a business day's (Asia/Taipei, as the daily close) paid orders with their ECPay e-invoice,
the allowances and invalidations made that day, and totals that tie to the daily close: what the day kept (paid
less refunded, the close's own figures) is what its invoices say, plus what is on its way. The day and a status
filter are in the URL (/invoices?day=YYYY-MM-DD&status=FAILED); the day downloads as CSV (/_export/invoices.csv).
Open invoice alerts (failed, or lagging their payment) are shown at the top, as on the Alerts page.

Also what the order page shows of an order's invoice (`invoice_fields`, `invoice_entries`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import reflex as rx
from sqlalchemy import text
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import empty_state, status_badge, table
from esa_admin.deps import runtime
from esa_admin.exports import export_url
from esa_domain.core.states import INVOICE, InvoiceStatus
from esa_domain.invoicing.views import daily_invoices, invoice_for_payment, invoice_timeline
from esa_domain.operations import daily_close

# the filter's choices: every invoice status, orders without an invoice, and rows that do not tie
FILTERS = ["all", *[str(s) for s in InvoiceStatus], "no invoice", "untied"]
_LEVEL = {"green": "ok", "amber": "warn", "orange": "warn", "red": "error"}
_CARRIER = {"none": "ECPay member carrier", "mobile": "mobile barcode", "donation": "donated, love code"}


def carrier_words(kind: str, value: str | None) -> str:
    words = _CARRIER.get(kind, kind)
    return f"{words} {value}" if value else words


def invoice_fields(session: Session, payment_id: int, created_at: datetime) -> dict[str, str]:
    """The order page's invoice card: {} while the order has no invoice."""
    v = invoice_for_payment(session, payment_id)
    if v is None:
        return {}
    return {
        "status": v.status,
        "number": v.invoice_no or "—",
        "random": v.random_number or "—",
        "issued": fmt.when(v.issued_at),
        "amount": fmt.twd(v.amount_twd),
        "allowance": fmt.twd(v.allowance_twd),
        "carrier": carrier_words(v.carrier_kind, v.carrier_value),
        "invalidated": "yes" if v.invalidated else "",
        # the day's list it is on: the business day its payment was created (as the daily close takes it)
        "list": routes.invoices_url(daily_close.business_day(created_at).isoformat()),
    }


def invoice_entries(session: Session, payment_id: int) -> list[dict]:
    """The invoice's moves for the order timeline, as its other entries (with `sort_at` to merge by)."""
    out = []
    for e in invoice_timeline(session, payment_id):
        what = e.subject if e.subject == "invoice" else f"{e.subject} {fmt.twd(e.amount_twd)}"
        # ECPay's number (InvoiceNo, AllowanceNo) beside the move that made it, not beside the ones before
        made = e.ecpay_number if e.to_status in ("ISSUED", "DONE", "INVALIDATED") else None
        numbers = " · ".join(x for x in (f"reference {e.reference}" if e.reference else "", made or "") if x)
        out.append(
            {
                "sort_at": e.at,
                "at": fmt.when(e.at),
                "kind": "invoice",
                "title": f"{what}: {e.from_status or '∅'} → {e.to_status} · {e.label}",
                "detail": e.cause + (f" ({numbers})" if numbers else ""),
                "actor": e.actor,
                "request": "",
                "response": "",
                "level": _LEVEL.get(e.colour, "info"),
            }
        )
    return out


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _keep(row, wanted: str) -> bool:
    if wanted in ("", "all"):
        return True
    if wanted == "untied":
        return row.difference_twd != 0
    if wanted == "no invoice":
        return row.invoice_status is None
    return row.invoice_status == wanted


_OPEN_ALERTS = text(
    """
    SELECT a.id, a.condition, a.title, a.payment_id, a.created_at FROM alerts a
    WHERE a.condition LIKE 'invoice%' AND NOT EXISTS (SELECT 1 FROM alert_acks k WHERE k.alert_id = a.id)
    ORDER BY a.id DESC LIMIT 20
    """
)


class InvoicesState(AuthState):
    day: str = ""
    status: str = "all"
    rows: list[dict[str, str]] = []
    adjustments: list[dict[str, str]] = []
    totals: dict[str, str] = {}
    close: dict[str, str] = {}  # the daily close's figures for the day, when it is closed
    alerts: list[dict[str, str]] = []

    def _fetch(self) -> None:
        chosen = _day(self.day) or daily_close.business_day(datetime.now(UTC))
        self.day = chosen.isoformat()
        with Session(runtime().engine) as s:
            d = daily_invoices(s, chosen)
            closed = next((c for c in daily_close.closes(s, limit=400) if c.day == chosen), None)
            open_alerts = s.connection().execute(_OPEN_ALERTS).all()
        self.rows = [
            {
                "order": fmt.order_number(r.payment_id),
                "link": routes.order_url(r.payment_id),
                "trade": r.merchant_trade_no,
                "payment": r.payment_status,
                "paid": fmt.twd(r.paid_twd),
                "refunded": fmt.twd(r.refunded_twd),
                "invoice": r.invoice_status or "",
                "number": r.invoice_no or "—",
                "random": r.random_number or "—",
                "issued": fmt.twd(r.issued_twd),
                "allowance": fmt.twd(r.allowance_twd),
                "invalidated": fmt.twd(r.invalidated_twd),
                "on_its_way": fmt.twd(r.awaiting_issue_twd - r.awaiting_adjustment_twd + r.refund_due_twd),
                "difference": str(r.difference_twd),
            }
            for r in d.rows
            if _keep(r, self.status)
        ]
        self.adjustments = [
            {
                "order": fmt.order_number(a.payment_id),
                "link": routes.order_url(a.payment_id),
                "kind": a.kind,
                "status": a.status,
                "amount": fmt.twd(a.amount_twd),
                "invoice": a.invoice_no or "—",
                "reference": a.reference,
                "allowance_no": a.allowance_no or "—",
                "at": fmt.when(a.at),
            }
            for a in d.adjustments
        ]
        self.totals = {
            "orders": str(len(d.rows)),
            "paid": fmt.twd(d.paid_twd),
            "refunded": fmt.twd(d.refunded_twd),
            "kept": fmt.twd(d.paid_twd - d.refunded_twd),
            "issued": fmt.twd(d.issued_twd),
            "allowance": fmt.twd(d.allowance_twd),
            "invoiced": fmt.twd(d.invoiced_twd),
            "invalidated": fmt.twd(d.invalidated_twd),
            "awaiting_issue": fmt.twd(d.awaiting_issue_twd),
            "awaiting_adjustment": fmt.twd(d.awaiting_adjustment_twd),
            "refund_due": fmt.twd(d.refund_due_twd),
            "difference": str(d.difference_twd),
            "untied": str(len(d.untied)),
        }
        if closed is None:
            self.close = {}
        else:
            paid, refunded = closed.totals.get("esa_paid_twd", 0), closed.totals.get("esa_refunded_twd", 0)
            self.close = {
                "paid": fmt.twd(paid),
                "refunded": fmt.twd(refunded),
                "ties": "yes" if (paid, refunded) == (d.paid_twd, d.refunded_twd) else "",
                "computed": fmt.when(closed.computed_at),
            }
        self.alerts = [
            {
                "condition": fmt.label(a.condition),
                "code": a.condition,
                "title": a.title,
                "link": routes.order_url(a.payment_id) if a.payment_id else "",
                "order": fmt.order_number(a.payment_id) if a.payment_id else "",
                "at": fmt.when(a.created_at),
            }
            for a in open_alerts
        ]

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        params = self.router.page.params
        self.day = str(params.get("day", "") or "")
        wanted = str(params.get("status", "") or "all")
        self.status = wanted if wanted in FILTERS else "all"
        self._fetch()
        return None

    @rx.event
    def show(self, form: dict):
        """Another day or filter: the URL follows, so the view can be linked and reloaded."""
        if self.authorize("viewer") is None:
            return self.denied()
        raw = str(form.get("day", "") or self.day)
        if _day(raw) is None:
            self.say(f"'{raw}' is not a day (YYYY-MM-DD).", "error")
            return None
        return rx.redirect(routes.invoices_url(raw, str(form.get("status", "") or self.status)))

    @rx.event
    def filter(self, status: str):
        if self.authorize("viewer") is None:
            return self.denied()
        return rx.redirect(routes.invoices_url(self.day, status))

    @rx.var
    def csv_url(self) -> str:
        return export_url("invoices", self.day, self.day) if self.day else ""

    @rx.var
    def close_url(self) -> str:
        return f"{routes.CLOSE}?day={self.day}" if self.day else routes.CLOSE

    @rx.var
    def previous_url(self) -> str:
        d = _day(self.day)
        return routes.invoices_url((d - timedelta(days=1)).isoformat(), self.status) if d else routes.INVOICES

    @rx.var
    def next_url(self) -> str:
        d = _day(self.day)
        return routes.invoices_url((d + timedelta(days=1)).isoformat(), self.status) if d else routes.INVOICES


def _money(label: str, value, id: str, note: str = "") -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="3", weight="bold", id=id),
        rx.cond(note != "", rx.text(note, size="1", color_scheme="gray")) if note else rx.fragment(),
        spacing="0",
        min_width="0",
    )


def _totals() -> rx.Component:
    t = InvoicesState.totals
    return rx.card(
        rx.vstack(
            rx.grid(
                _money("Paid orders", t["orders"], "inv-orders"),
                _money("Paid", t["paid"], "inv-paid", "the close's 'Paid here'"),
                _money("Refunded", t["refunded"], "inv-refunded"),
                _money("Kept", t["kept"], "inv-kept"),
                _money("Issued", t["issued"], "inv-issued"),
                _money("Allowances (折讓)", t["allowance"], "inv-allowance"),
                _money("Invalidated (作廢)", t["invalidated"], "inv-invalidated"),
                _money("Awaiting issue", t["awaiting_issue"], "inv-awaiting-issue"),
                _money("Awaiting adjustment", t["awaiting_adjustment"], "inv-awaiting-adjustment"),
                _money("Refund on its way", t["refund_due"], "inv-refund-due"),
                columns=rx.breakpoints(initial="2", md="5"),
                spacing="3",
                width="100%",
            ),
            rx.hstack(
                rx.cond(
                    t["difference"] == "0",
                    rx.badge("Ties: kept = invoiced + on its way", color_scheme="green", id="inv-ties"),
                    rx.badge(
                        "Does not tie: NT$",
                        t["difference"],
                        " unexplained in ",
                        t["untied"],
                        " order(s)",
                        color_scheme="red",
                        id="inv-ties",
                    ),
                ),
                rx.cond(
                    InvoicesState.close.contains("paid"),
                    rx.text(
                        "Daily close: paid ",
                        InvoicesState.close["paid"],
                        ", refunded ",
                        InvoicesState.close["refunded"],
                        rx.cond(InvoicesState.close["ties"] != "", " — the same", " — NOT the same"),
                        size="2",
                        id="inv-close-figures",
                    ),
                    rx.text("The daily close has not run for this day yet.", size="2", color_scheme="gray"),
                ),
                rx.link("Open the daily close", href=InvoicesState.close_url, id="inv-close-link", size="2"),
                wrap="wrap",
                align="center",
                spacing="3",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(r["order"], href=r["link"], weight="bold")),
        rx.table.cell(rx.text(r["trade"], size="1")),
        rx.table.cell(r["paid"]),
        rx.table.cell(r["refunded"]),
        rx.table.cell(rx.cond(r["invoice"] != "", status_badge(r["invoice"], INVOICE), rx.text("—"))),
        rx.table.cell(rx.text(r["number"], weight="bold")),
        rx.table.cell(r["random"]),
        rx.table.cell(r["issued"]),
        rx.table.cell(r["allowance"]),
        rx.table.cell(r["invalidated"]),
        rx.table.cell(r["on_its_way"]),
        rx.table.cell(
            rx.badge(
                r["difference"], color_scheme=rx.cond(r["difference"] == "0", "green", "red"), variant="soft"
            )
        ),
        custom_attrs={"data-invoice": r["number"]},
    )


def _adjustment_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(r["order"], href=r["link"])),
        rx.table.cell(rx.badge(r["kind"], variant="soft")),
        rx.table.cell(r["status"]),
        rx.table.cell(r["amount"]),
        rx.table.cell(r["invoice"]),
        rx.table.cell(rx.text(r["reference"], size="1")),
        rx.table.cell(r["allowance_no"]),
        rx.table.cell(r["at"]),
    )


def _alert_row(a) -> rx.Component:
    return rx.hstack(
        rx.badge(a["condition"], color_scheme="orange", variant="soft", title=a["code"]),
        rx.text(a["title"], size="2"),
        rx.cond(a["link"] != "", rx.link(a["order"], href=a["link"], size="2")),
        rx.text(a["at"], size="1", color_scheme="gray"),
        wrap="wrap",
        align="center",
    )


@template(routes.INVOICES, "E-invoices", on_load=[InvoicesState.load])
def invoices_page() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Each paid order of a business day (Asia/Taipei, as the daily close takes it) with its ECPay e-invoice; "
            "what the day kept (paid less refunded) is what its invoices say (issued less allowances) plus what "
            "is on its way (an invoice not issued yet, an adjustment not made yet, a refund not made yet).",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            InvoicesState.alerts.length() > 0,
            rx.callout(
                rx.vstack(
                    rx.text("Open invoice alerts (acknowledge them on the Alerts page)", weight="bold"),
                    rx.foreach(InvoicesState.alerts, _alert_row),
                    rx.link("Alerts", href=routes.ALERTS, size="2"),
                    spacing="1",
                ),
                icon="triangle-alert",
                color_scheme="orange",
                width="100%",
                id="inv-alerts",
            ),
        ),
        rx.form(
            rx.hstack(
                rx.link("‹ previous day", href=InvoicesState.previous_url, id="inv-prev", size="2"),
                rx.input(
                    name="day",
                    default_value=InvoicesState.day,
                    key=InvoicesState.day,
                    type="date",
                    id="inv-day",
                    width="11em",
                ),
                rx.select(
                    FILTERS,
                    name="status",
                    value=InvoicesState.status,
                    on_change=InvoicesState.filter,
                    id="inv-status",
                ),
                rx.button("Show", type="submit", size="2", id="inv-show"),
                rx.link("next day ›", href=InvoicesState.next_url, id="inv-next", size="2"),
                rx.button(
                    rx.el.a(
                        rx.icon("download", size=14),
                        "Download CSV",
                        href=InvoicesState.csv_url,
                        download="",
                        id="inv-csv",
                        custom_attrs={"reloadDocument": True},  # React Router leaves the click to the browser
                    ),
                    as_child=True,
                    variant="soft",
                    size="2",
                ),
                wrap="wrap",
                align="center",
                spacing="3",
            ),
            on_submit=InvoicesState.show,
            width="100%",
        ),
        _totals(),
        table(
            [
                "Order",
                "Trade",
                "Paid",
                "Refunded",
                "Invoice",
                "Number",
                "Random",
                "Issued",
                "Allowances",
                "Invalidated",
                "On its way",
                "Difference",
            ],
            InvoicesState.rows,
            _row,
            id="invoices-table",
        ),
        empty_state(InvoicesState.rows.length() == 0, "No paid order of this day matches."),
        rx.heading("Allowances and invalidations made this day", size="4"),
        table(
            ["Order", "Kind", "Status", "Amount", "Invoice", "Reference", "AllowanceNo", "At (Taipei)"],
            InvoicesState.adjustments,
            _adjustment_row,
            id="invoice-adjustments",
        ),
        empty_state(InvoicesState.adjustments.length() == 0, "None on this day."),
        width="100%",
        spacing="4",
    )
