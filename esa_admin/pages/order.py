"""One order: its header, items, and the timeline of everything recorded; operator actions in dialogs."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import status_badge, table
from esa_admin.deps import unit_of_work
from esa_admin.pages.invoices import invoice_entries, invoice_fields
from esa_domain.core.errors import DomainError
from esa_domain.core.states import INVOICE, ITEM, PAYMENT, REFUND, ItemStatus, OperatorAction, RefundStatus
from esa_domain.fulfillment.delivery import reveal_delivery, revealable_items
from esa_domain.fulfillment.evidence import last_words, no_word
from esa_domain.fulfillment.margin import give_up
from esa_domain.infra.db import default_engine
from esa_domain.invoicing.actions import retry_invoice
from esa_domain.invoicing.carrier import Carrier
from esa_domain.operations import actions as operator_actions
from esa_domain.payments import refunds
from esa_domain.views.orders import order_view
from esa_domain.views.timeline import order_timeline

_ACTIONS = {
    "retry": "Retry fulfillment of the items that are not moving",
    "resolve_ok": "Resolve the item as DELIVERED",
    "resolve_fail": "Resolve the item as NOT delivered",
    "refund": "Refund this payment",
    "refund_done": "Mark this refund done (made by hand)",
    "refund_bank": "The customer's bank details for this refund",
    "give_up": "Give up on this waiting item: not delivered, the order's refund follows",
    "retry_invoice": "Send the e-invoice ECPay refused again",
}


def _yes(allowed: bool) -> str:
    return "yes" if allowed else ""  # state dicts hold strings: "" is no


class OrderState(AuthState):
    found: bool = True
    order: dict[str, str] = {}
    items: list[dict[str, str]] = []
    # the payment's refunds (esa_domain.payments.refunds), each with the actions its state allows
    refunds: list[dict[str, str]] = []
    entries: list[dict[str, str]] = []
    invoice: dict[
        str, str
    ] = {}  # the order's e-invoice (issue 19; esa_admin.pages.invoices), {} before it has one
    dialog_open: bool = False
    dialog_action: str = ""
    dialog_item: int = 0
    dialog_error: str = ""
    # "not delivered" asked for an item a supplier says was delivered: that word, and the admin's override box
    dialog_evidence: str = ""
    # item id -> its PIN/voucher code, shown after an audited reveal (emptied on every load)
    revealed: dict[str, str] = {}

    def _item_number(self, item_id: int) -> str:
        """The item's number as the page shows it ("#76-1")."""
        return next((i["number"] for i in self.items if i["id"] == str(item_id)), f"id {item_id}")

    def _payment_id(self) -> int | None:
        raw = str(self.router.page.params.get("id", ""))
        return int(raw) if raw.isdigit() else None

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        pid = self._payment_id()
        with Session(default_engine()) as s:
            view = order_view(s, pid) if pid is not None else None
            entries = order_timeline(s, pid) if view is not None else []
            words = last_words(s, [i.id for i in view.items]) if view is not None else {}
            refund_rows = refunds.refunds_of(s, pid) if view is not None else []  # type: ignore[arg-type]
            left = view.amount_twd - refunds.committed_twd(s, pid) if view is not None else 0  # type: ignore[arg-type]
            sealed = revealable_items(s, [i.id for i in view.items]) if view is not None else set()
            invoice = invoice_fields(s, pid, view.created_at) if view is not None else {}  # type: ignore[arg-type]
            invoice_moves = invoice_entries(s, pid) if view is not None else []  # type: ignore[arg-type]
        self.revealed = {}
        self.found = view is not None
        if view is None:
            self.order, self.items, self.entries, self.invoice = {}, [], [], {}
            return None
        self.invoice = invoice
        self.order = {
            "id": str(view.id),
            "number": fmt.order_number(view.id),
            "trade_no": view.merchant_trade_no,
            "status": view.status,
            "amount": fmt.twd(view.amount_twd),
            "subtotal": fmt.twd(view.subtotal_twd),
            "discount": fmt.twd(view.discount_twd),
            "refunded": fmt.twd(view.refunded_twd),
            "cost": fmt.twd(view.cost_twd),
            "margin": fmt.twd(view.margin_twd),
            "fx": f"{view.fx_rate.normalize()}",
            "method": fmt.payment_method(view.payment_method),
            "ecpay": view.ecpay_trade_no or "—",
            "created": fmt.when(view.created_at),
            "paid": fmt.when(view.paid_at),
            "expires": fmt.when(view.expires_at),
            "customer": f"{view.customer_name} ({view.line_user_id})",
            "customer_link": routes.customer_url(view.customer_id),
            "status_note": PAYMENT[view.status].operator,
            # the buttons the table allows; operations.actions checks the same table again on confirm
            "retryable": _yes(view.status in PAYMENT.allowing(OperatorAction.RETRY)),
            "refundable": _yes(view.status in PAYMENT.allowing(OperatorAction.REFUND)),
            "refund_by_hand": _yes(operator_actions.refunds_by_hand(view.status)),
            # what a new refund may still give back, and how it would leave (DoAction, or an operator's task)
            "refund_left": fmt.twd(max(left, 0)),
            "refund_by_card": _yes(refunds.is_card(view.payment_method) and bool(view.ecpay_trade_no)),
        }
        self.refunds = [
            {
                "id": str(r.id),
                "number": f"#{r.sequence}",
                "amount": fmt.twd(r.amount_twd),
                "status": str(r.status),
                "purpose": "what was not delivered"
                if r.purpose == refunds.UNDELIVERED
                else f"a second payment, trade {r.merchant_trade_no}"
                if r.merchant_trade_no
                else "by an operator",
                "method": "ECPay DoAction R" if r.method == "ecpay" else "by hand (no refund API)",
                "reason": r.reason,
                "by": r.requested_by,
                "answer": r.ecpay_answer or "",
                "reference": r.reference or "",
                "bank": r.bank_details or "",
                "created": fmt.when(r.created_at),
                "task": _yes(r.status in REFUND.allowing(OperatorAction.REFUND)),
                "by_hand": _yes(r.status in (RefundStatus.MANUAL, RefundStatus.FAILED)),  # bank details apply
            }
            for r in refund_rows
        ]
        self.items = [
            {
                "id": str(i.id),
                # "#76-1": the order's number and the item's place in it (item ids read like other orders')
                "number": fmt.item_number(view.id, n),
                "product": f"{i.product_name} ({i.product_code})",
                "target": i.target + (f" ({i.zone})" if i.zone else ""),
                "status": i.status,
                "price": fmt.twd(i.price_twd),
                "cost": fmt.idr(i.cost_idr),
                "artifact": i.artifact or "",
                "failure": i.failure_reason or "",
                "review": _yes(i.status in ITEM.allowing(OperatorAction.RESOLVE)),
                # held back (margin floor, breaker, deposit): an operator may give it up (esa_domain.fulfillment.margin)
                "waiting": _yes(i.status == ItemStatus.WAITING),
                # the supplier's last word in plain words (esa_domain.fulfillment.evidence), above the raw JSON
                "last_word": words[i.id].words if i.id in words else no_word(),
                "said_delivered": _yes(i.id in words and words[i.id].delivered),
                "sealed": _yes(i.id in sealed),  # a PIN or voucher code: shown only through Reveal (audited)
            }
            for n, i in enumerate(view.items, start=1)
        ]
        merged = [(e.at, n, e) for n, e in enumerate(entries)]
        merged += [(m["sort_at"], len(merged) + n, m) for n, m in enumerate(invoice_moves)]
        self.entries = [
            {k: v for k, v in e.items() if k != "sort_at"}
            if isinstance(e, dict)
            else {
                "at": fmt.when(e.at),
                "kind": e.kind,
                "title": e.title,
                "detail": e.detail,
                "actor": e.actor,
                "request": e.request,
                "response": e.response,
                "level": e.level,
            }
            for _, _, e in sorted(merged, key=lambda m: (m[0], m[1]))
        ]
        return None

    @rx.event
    def ask(self, action: str, item_id: int = 0):
        """Open the confirmation dialog for an action (the role is checked again on confirm)."""
        if self.authorize("operator") is None:
            return self.denied()
        self.dialog_action, self.dialog_item, self.dialog_error = action, item_id, ""
        item = next((i for i in self.items if i["id"] == str(item_id)), None)
        said = action == "resolve_fail" and item is not None and item.get("said_delivered")
        self.dialog_evidence = item["last_word"] if said else ""  # type: ignore[index]
        self.dialog_open = True
        return None

    @rx.event
    def reveal(self, item_id: int):
        """Show an item's PIN/voucher code to this operator; the look is recorded (OperatorAction) first."""
        operator = self.authorize("operator")
        if operator is None:
            return self.denied()
        pid = self._payment_id()
        try:
            with unit_of_work() as uow:
                d = reveal_delivery(
                    uow.session, operator_id=operator.id, payment_id=pid or 0, item_id=item_id
                )
                uow.commit()
        except DomainError as exc:
            self.say(str(exc), "error")
            return None
        shown = [f"PIN {d.pin}" if d.pin else "", f"voucher code {d.voucher_code}" if d.voucher_code else ""]
        self.revealed = {**self.revealed, str(item_id): " · ".join(x for x in shown if x)}
        return None

    @rx.event
    def cancel(self):
        self.dialog_open = False

    @rx.event
    def confirm(self, form: dict):
        operator = self.authorize("operator")
        if operator is None:
            self.dialog_open = False
            return self.denied()
        pid = self._payment_id()
        reason = str(form.get("reason", ""))
        try:
            with unit_of_work() as uow:
                if self.dialog_action == "retry":
                    ids = operator_actions.retry_fulfillment(uow, operator, pid, reason)
                    numbers = ", ".join(self._item_number(i) for i in ids)
                    done = f"Delivery re-dispatched for item(s) {numbers}."
                elif self.dialog_action in ("resolve_ok", "resolve_fail"):
                    to = operator_actions.resolve_review(
                        uow,
                        operator,
                        self.dialog_item,
                        self.dialog_action == "resolve_ok",
                        reason,
                        artifact=str(form.get("artifact", "")) or None,
                        override=str(form.get("override", "")).lower() in ("on", "true", "yes"),
                    )
                    done = f"Item {self._item_number(self.dialog_item)} resolved as {to}."
                elif self.dialog_action == "give_up":
                    give_up(uow, operator, self.dialog_item, reason)
                    done = (
                        f"Item {self._item_number(self.dialog_item)} given up: not delivered, refund follows."
                    )
                elif self.dialog_action == "refund":
                    amount = str(form.get("amount", "")).strip()
                    if amount and not amount.isdigit():
                        raise operator_actions.ActionRefused("the amount is a whole number of NT$, e.g. 25")
                    to = operator_actions.refund(
                        uow,
                        operator,
                        pid,
                        reason,
                        int(amount) if amount else None,
                        bank_details=str(form.get("bank", "")) or None,
                    )
                    done = f"Payment is now {to}."
                elif self.dialog_action == "refund_done":
                    reference = str(form.get("reference", "")) or reason
                    operator_actions.complete_refund(uow, operator, self.dialog_item, reference)
                    done = "Refund marked done."
                elif self.dialog_action == "retry_invoice":
                    kind = str(form.get("carrier_kind", "") or "keep")
                    carrier = (
                        None if kind == "keep" else Carrier(kind, str(form.get("carrier_value", "")) or None)
                    )  # type: ignore[arg-type]
                    retry_invoice(uow, operator, pid, reason, carrier)
                    done = "The e-invoice is being sent to ECPay again (ECPay is asked first: never issued twice)."
                elif self.dialog_action == "refund_bank":
                    operator_actions.record_bank_details(
                        uow, operator, self.dialog_item, str(form.get("bank", ""))
                    )
                    done = "Bank details kept with the refund."
                else:
                    raise operator_actions.ActionRefused("unknown action")
        except (DomainError, PermissionError) as exc:
            self.dialog_error = str(exc)
            return None
        self.dialog_open = False
        self.say(done, "ok")
        return OrderState.load


def _field(label: str, value) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="2", overflow_wrap="anywhere"),  # long numbers wrap inside their column
        spacing="0",
        min_width="0",
    )


def _header() -> rx.Component:
    o = OrderState.order
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Order ", o["number"], size="5", id="order-number"),
                status_badge(o["status"]),
                rx.spacer(),
                rx.cond(
                    AuthState.can_operate,
                    rx.hstack(
                        rx.cond(
                            o["retryable"] != "",
                            rx.button(
                                "Retry fulfillment", id="action-retry", on_click=OrderState.ask("retry", 0)
                            ),
                        ),
                        rx.cond(
                            o["refundable"] != "",
                            rx.button(
                                "Refund",
                                color_scheme="red",
                                id="action-refund",
                                on_click=OrderState.ask("refund", 0),
                            ),
                        ),
                    ),
                    rx.text("Read-only (viewer)", size="1", color_scheme="gray", id="read-only"),
                ),
                width="100%",
                align="center",
            ),
            rx.grid(
                _field("Amount charged", o["amount"]),
                _field("Subtotal", o["subtotal"]),
                _field("Discount", o["discount"]),
                _field("Refunded", o["refunded"]),
                _field("Quoted cost", o["cost"]),
                _field("Margin", o["margin"]),
                _field("IDR/TWD rate", o["fx"]),
                _field("Method", o["method"]),
                _field("MerchantTradeNo", rx.el.span(o["trade_no"], id="order-trade-no")),
                _field("ECPay TradeNo", o["ecpay"]),
                _field("Created", o["created"]),
                _field("Paid", o["paid"]),
                _field("Pay by", o["expires"]),
                _field("Customer", rx.link(o["customer"], href=o["customer_link"], id="order-customer")),
                columns=rx.breakpoints(initial="2", md="4"),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
        width="100%",
    )


def _item_row(i) -> rx.Component:
    return rx.table.row(
        rx.table.cell(i["number"]),
        rx.table.cell(i["product"]),
        rx.table.cell(i["target"]),
        rx.table.cell(status_badge(i["status"], ITEM)),
        rx.table.cell(i["price"]),
        rx.table.cell(i["cost"]),
        rx.table.cell(
            rx.text(i["artifact"], " ", i["failure"], size="1"),
            rx.cond(
                OrderState.revealed.contains(i["id"]),
                rx.code(OrderState.revealed[i["id"]], id="revealed-" + i["id"]),
                rx.cond(
                    (i["sealed"] != "") & AuthState.can_operate,
                    rx.button(
                        "Reveal PIN (audited)",
                        size="1",
                        variant="outline",
                        id="reveal-" + i["id"],
                        on_click=OrderState.reveal(i["id"].to(int)),
                    ),
                ),
            ),
        ),
        rx.table.cell(
            rx.cond(
                (i["review"] != "") & AuthState.can_operate,
                rx.hstack(
                    rx.button(
                        "Delivered",
                        size="1",
                        color_scheme="green",
                        id="resolve-ok-" + i["id"],
                        on_click=OrderState.ask("resolve_ok", i["id"].to(int)),
                    ),
                    rx.button(
                        "Not delivered",
                        size="1",
                        color_scheme="red",
                        id="resolve-fail-" + i["id"],
                        on_click=OrderState.ask("resolve_fail", i["id"].to(int)),
                    ),
                ),
                rx.cond(
                    (i["waiting"] != "") & AuthState.can_operate,
                    rx.button(
                        "Give up (refund)",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        id="give-up-" + i["id"],
                        on_click=OrderState.ask("give_up", i["id"].to(int)),
                    ),
                ),
            )
        ),
    )


def _refund_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["number"]), rx.text(r["created"], size="1", color_scheme="gray")),
        rx.table.cell(r["amount"]),
        rx.table.cell(status_badge(r["status"], REFUND)),
        rx.table.cell(r["purpose"]),
        rx.table.cell(r["method"]),
        rx.table.cell(rx.text(r["reason"], size="1"), rx.text(r["by"], size="1", color_scheme="gray")),
        rx.table.cell(
            rx.text(r["answer"], size="1"),
            rx.cond(r["reference"] != "", rx.text("Reference: ", r["reference"], size="1")),
            rx.cond(r["bank"] != "", rx.text("Bank: ", r["bank"], size="1", id="refund-bank-" + r["id"])),
        ),
        rx.table.cell(
            rx.cond(
                (r["task"] != "") & AuthState.can_operate,
                rx.hstack(
                    rx.cond(
                        r["by_hand"] != "",
                        rx.button(
                            "Bank details",
                            size="1",
                            variant="outline",
                            id="refund-bank-button-" + r["id"],
                            on_click=OrderState.ask("refund_bank", r["id"].to(int)),
                        ),
                    ),
                    rx.button(
                        "Mark done",
                        size="1",
                        color_scheme="green",
                        id="refund-done-" + r["id"],
                        on_click=OrderState.ask("refund_done", r["id"].to(int)),
                    ),
                ),
            )
        ),
    )


def _last_word(i) -> rx.Component:
    return rx.hstack(
        rx.text(i["number"], weight="bold", size="2"),
        rx.text(i["last_word"], size="2", id="last-word-" + i["id"]),
        rx.cond(i["said_delivered"] != "", rx.badge("supplier: delivered", color_scheme="green")),
        align="center",
        width="100%",
    )


def _json(label: str, text) -> rx.Component:
    return rx.cond(
        text != "",
        rx.box(
            rx.text(label, size="1", weight="bold"),
            rx.code_block(text, language="json", font_size="11px", wrap_long_lines=True),
            width="100%",
        ),
    )


_KIND_COLOUR = (
    ("transition", "blue"),
    ("gateway", "cyan"),
    ("attempt", "violet"),
    ("exchange", "gray"),
    ("delivery", "jade"),
    ("alert", "orange"),
    ("operator", "green"),
    ("invoice", "teal"),
)


def _entry(e) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.badge(e["kind"], color_scheme=rx.match(e["kind"], *_KIND_COLOUR, "gray")),
                rx.text(e["title"], weight="bold", size="2"),
                rx.spacer(),
                rx.text(e["actor"], size="1", color_scheme="gray"),
                rx.text(e["at"], size="1", color_scheme="gray"),
                width="100%",
                align="center",
            ),
            rx.cond(e["detail"] != "", rx.text(e["detail"], size="2")),
            rx.cond(
                (e["request"] != "") | (e["response"] != ""),
                rx.el.details(
                    rx.el.summary(
                        rx.text("JSON recorded (secrets redacted)", size="1", as_="span"), cursor="pointer"
                    ),
                    rx.grid(
                        _json("request / fields", e["request"]),
                        _json("response", e["response"]),
                        columns="2",
                        spacing="2",
                        width="100%",
                    ),
                    width="100%",
                ),
            ),
            spacing="1",
            width="100%",
        ),
        border_left=rx.match(
            e["level"],
            ("ok", "4px solid var(--green-9)"),
            ("warn", "4px solid var(--orange-9)"),
            ("error", "4px solid var(--red-9)"),
            "4px solid var(--gray-6)",
        ),
        width="100%",
        class_name="timeline-entry",
    )


def _dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(rx.match(OrderState.dialog_action, *_ACTIONS.items(), "Confirm")),
            rx.form(
                rx.vstack(
                    rx.text("This is recorded in the audit trail with your name and reason.", size="2"),
                    rx.text_area(
                        name="reason", placeholder="Reason (required)", id="action-reason", width="100%"
                    ),
                    rx.cond(
                        OrderState.dialog_action == "resolve_ok",
                        rx.input(name="artifact", placeholder="Serial / token if known", width="100%"),
                    ),
                    rx.cond(
                        OrderState.dialog_evidence != "",
                        rx.vstack(
                            rx.callout(
                                OrderState.dialog_evidence,
                                title="The supplier says this item was DELIVERED",
                                color_scheme="red",
                                id="action-evidence",
                            ),
                            rx.checkbox(
                                "Override the supplier's word (admins only; say why above)",
                                name="override",
                                id="action-override",
                            ),
                            width="100%",
                        ),
                    ),
                    rx.cond(
                        (OrderState.dialog_action == "refund") & (OrderState.order["refund_by_hand"] != ""),
                        rx.input(name="amount", placeholder="Amount refunded by hand (NT$)", width="100%"),
                    ),
                    rx.cond(
                        (OrderState.dialog_action == "refund") & (OrderState.order["refund_by_hand"] == ""),
                        rx.vstack(
                            rx.text(
                                "Up to ",
                                OrderState.order["refund_left"],
                                " can still be refunded. ",
                                rx.cond(
                                    OrderState.order["refund_by_card"] != "",
                                    "It goes back to the card through ECPay (DoAction R).",
                                    "This payment has no refund API: it becomes a task to refund by hand.",
                                ),
                                size="2",
                                id="refund-hint",
                            ),
                            rx.input(
                                name="amount",
                                placeholder="Amount (NT$); empty: what was not delivered, or all that is left",
                                id="refund-amount",
                                width="100%",
                            ),
                            rx.cond(
                                OrderState.order["refund_by_card"] == "",
                                rx.input(
                                    name="bank", placeholder="Customer's bank details, if given", width="100%"
                                ),
                            ),
                            width="100%",
                        ),
                    ),
                    rx.cond(
                        OrderState.dialog_action == "retry_invoice",
                        rx.vstack(
                            rx.text(
                                "Now to: ",
                                OrderState.invoice["carrier"],
                                ". Send it to another carrier if the customer gave a corrected one:",
                                size="2",
                            ),
                            rx.el.select(
                                rx.el.option("the same carrier", value="keep"),
                                rx.el.option("none: ECPay's member carrier", value="none"),
                                rx.el.option("a mobile barcode", value="mobile"),
                                rx.el.option("a donation love code", value="donation"),
                                name="carrier_kind",
                                id="invoice-carrier-kind",
                            ),
                            rx.input(
                                name="carrier_value",
                                placeholder="/ABC+123 or 168001 (for a barcode or a love code)",
                                id="invoice-carrier-value",
                                width="100%",
                            ),
                            width="100%",
                        ),
                    ),
                    rx.cond(
                        OrderState.dialog_action == "refund_done",
                        rx.input(
                            name="reference",
                            placeholder="Transfer reference (kept with the refund)",
                            id="refund-reference",
                            width="100%",
                        ),
                    ),
                    rx.cond(
                        OrderState.dialog_action == "refund_bank",
                        rx.input(
                            name="bank",
                            placeholder="Bank, account number, account holder",
                            id="refund-bank",
                            width="100%",
                        ),
                    ),
                    rx.cond(
                        OrderState.dialog_error != "",
                        rx.callout(OrderState.dialog_error, color_scheme="red", id="action-error"),
                    ),
                    rx.hstack(
                        rx.alert_dialog.cancel(
                            rx.button(
                                "Cancel",
                                variant="soft",
                                color_scheme="gray",
                                type="button",
                                on_click=OrderState.cancel,
                            )
                        ),
                        rx.button("Confirm", type="submit", id="action-confirm"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=OrderState.confirm,
                reset_on_submit=True,
            ),
        ),
        open=OrderState.dialog_open,
    )


def _invoice_card() -> rx.Component:
    """The order's e-invoice (issue 19): number, random code, amounts, carrier; its moves are on the timeline."""
    v = OrderState.invoice
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("E-invoice", weight="bold"),
                status_badge(v["status"], INVOICE),
                rx.spacer(),
                rx.cond(
                    (v["status"] == "FAILED") & AuthState.can_operate,
                    rx.button(
                        "Send again",
                        size="1",
                        color_scheme="orange",
                        id="action-retry-invoice",
                        on_click=OrderState.ask("retry_invoice", 0),
                    ),
                ),
                rx.link("the day's invoices", href=v["list"], size="2", id="order-invoice-list"),
                width="100%",
                align="center",
            ),
            rx.grid(
                _field("Invoice number", rx.el.span(v["number"], id="order-invoice-no")),
                _field("Random code", v["random"]),
                _field("Issued", v["issued"]),
                _field("Amount", v["amount"]),
                _field("Allowances", v["allowance"]),
                _field("Carrier", v["carrier"]),
                columns=rx.breakpoints(initial="2", md="6"),
                spacing="3",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="order-invoice",
    )


@template(routes.ORDER, "Order", on_load=[OrderState.load])
def order_page() -> rx.Component:
    return rx.cond(
        OrderState.found,
        rx.vstack(
            _header(),
            rx.text("Items", weight="bold"),
            table(
                ["Item", "Product", "Target", "Status", "Price", "Cost", "Result", ""],
                OrderState.items,
                _item_row,
                id="items-table",
            ),
            rx.cond(
                OrderState.refunds.length() > 0,
                rx.vstack(
                    rx.text("Refunds", weight="bold"),
                    table(
                        ["Refund", "Amount", "Status", "For", "How", "Reason", "ECPay / reference", ""],
                        OrderState.refunds,
                        _refund_row,
                        id="refunds-table",
                    ),
                    width="100%",
                ),
            ),
            rx.cond(OrderState.invoice.contains("status"), _invoice_card()),
            rx.text("The supplier's last word", weight="bold"),
            rx.vstack(rx.foreach(OrderState.items, _last_word), width="100%", spacing="1", id="last-words"),
            rx.text("Timeline", weight="bold"),
            rx.vstack(rx.foreach(OrderState.entries, _entry), width="100%", spacing="2", id="timeline"),
            _dialog(),
            width="100%",
            spacing="3",
        ),
        rx.callout("There is no such order.", color_scheme="red"),
    )
