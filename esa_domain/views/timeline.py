"""One order's timeline: history, gateway events, supplier attempts and exchanges, alerts, operator acts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from esa_domain.core.states import ATTEMPT, ITEM, PAYMENT, REFUND, Lifecycle
from esa_domain.models import (
    Alert,
    GatewayEvent,
    ItemAttempt,
    ItemDelivery,
    Operator,
    OperatorAction,
    PaymentHistory,
    PaymentItem,
    Refund,
    RefundHistory,
    Supplier,
    SupplierExchange,
)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # transition | gateway | attempt | exchange | delivery | alert | operator
    title: str
    detail: str
    actor: str
    request: str = ""  # pretty JSON, already redacted when stored
    response: str = ""
    level: str = "info"  # info | ok | warn | error: how the dashboard colours it


def _pretty(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


# a transition or attempt is coloured like its state's badge: these colours mean "look at it"
_LEVEL_OF_COLOUR = {"green": "ok", "amber": "warn", "orange": "warn", "red": "error"}


def _reading(lifecycle: Lifecycle, status: str) -> tuple[str, str]:
    """(what an operator reads, level) for a status; one the table no longer has reads as itself."""
    try:
        state = lifecycle[status]
    except ValueError:
        return "", "info"
    return state.operator, _LEVEL_OF_COLOUR.get(state.colour, "info")


def _titled(title: str, meaning: str) -> str:
    return f"{title} · {meaning}" if meaning else title


def order_timeline(session: Session, payment_id: int) -> list[TimelineEntry]:
    """Everything recorded about one payment, oldest first; each source is read through its payment index."""
    entries: list[TimelineEntry] = []
    for h in session.execute(
        select(PaymentHistory).where(col(PaymentHistory.payment_id) == payment_id).order_by(PaymentHistory.id)
    ).scalars():
        who = f"item #{h.item_id}" if h.item_id else "payment"
        meaning, level = _reading(ITEM if h.item_id else PAYMENT, h.to_status)
        entries.append(
            TimelineEntry(
                h.created_at,
                "transition",
                _titled(f"{who}: {h.from_status or '∅'} → {h.to_status}", meaning),
                h.cause,
                h.actor,
                level=level,
            )
        )
    for h, seq, amount in session.execute(
        select(RefundHistory, Refund.sequence, Refund.amount_twd)
        .join(Refund, col(Refund.id) == col(RefundHistory.refund_id))
        .where(col(RefundHistory.payment_id) == payment_id)
        .order_by(RefundHistory.id)
    ).all():
        meaning, level = _reading(REFUND, h.to_status)
        title = f"refund #{seq} (NT${amount}): {h.from_status or '∅'} → {h.to_status}"
        entries.append(
            TimelineEntry(h.created_at, "transition", _titled(title, meaning), h.cause, h.actor, level=level)
        )
    for g in session.execute(
        select(GatewayEvent).where(col(GatewayEvent.payment_id) == payment_id).order_by(GatewayEvent.id)
    ).scalars():
        entries.append(
            TimelineEntry(
                g.received_at,
                "gateway",
                f"ECPay {g.kind} ({'verified' if g.verified else 'NOT verified'})",
                g.outcome,
                f"ecpay {g.remote_addr or ''}".strip(),
                request=_pretty(g.fields),
                level="error" if g.outcome.startswith("rejected") else "info",
            )
        )
    attempts = session.execute(
        select(ItemAttempt, Supplier.code)
        .join(Supplier, col(Supplier.id) == col(ItemAttempt.supplier_id))
        .join(PaymentItem, col(PaymentItem.id) == col(ItemAttempt.item_id))
        .where(col(PaymentItem.payment_id) == payment_id)
        .order_by(ItemAttempt.id)
    ).all()
    for a, code in attempts:
        meaning, level = _reading(ATTEMPT, a.state)
        detail = " · ".join(
            x
            for x in (
                f"ref {a.reference}",
                a.supplier_code and f"code {a.supplier_code}",
                a.message,
                f"{a.latency_ms} ms" if a.latency_ms is not None else None,
                f"cost IDR {a.cost_idr:,}",
            )
            if x
        )
        entries.append(
            TimelineEntry(
                a.created_at,
                "attempt",
                _titled(f"item #{a.item_id} attempt at {code}: {a.state}", meaning),
                detail,
                f"supplier:{code}",
                _pretty(a.request_json),
                _pretty(a.response_json),
                level,
            )
        )
    attempt_ids = [a.id for a, _ in attempts]
    if attempt_ids:
        for x, code in session.execute(
            select(SupplierExchange, Supplier.code)
            .join(Supplier, col(Supplier.id) == col(SupplierExchange.supplier_id))
            .where(col(SupplierExchange.attempt_id).in_(attempt_ids))
            .order_by(SupplierExchange.id)
        ).all():
            status = f"HTTP {x.http_status}" if x.http_status else "no answer"
            entries.append(
                TimelineEntry(
                    x.created_at,
                    "exchange",
                    f"{code} {x.operation}: {x.method} {x.url}",
                    f"{status} in {x.latency_ms} ms" + (f" · {x.error}" if x.error else ""),
                    f"supplier:{code}",
                    _pretty(x.request_json),
                    _pretty(x.response_json),
                    "error" if x.error else "info",
                )
            )
    entries += _deliveries(session, payment_id)
    for al in session.execute(
        select(Alert).where(col(Alert.payment_id) == payment_id).order_by(Alert.id)
    ).scalars():
        entries.append(
            TimelineEntry(
                al.created_at,
                "alert",
                f"Alert: {al.title}",
                f"{al.condition} · {al.status}" + (f" · {al.error}" if al.error else ""),
                "system:alerts",
                level="warn",
            )
        )
    for act, username in session.execute(
        select(OperatorAction, Operator.username)
        .outerjoin(Operator, col(Operator.id) == col(OperatorAction.operator_id))
        .where(col(OperatorAction.payment_id) == payment_id)
        .order_by(OperatorAction.id)
    ).all():
        entries.append(
            TimelineEntry(
                act.created_at,
                "operator",
                f"Operator action: {act.action}",
                act.reason or "",
                f"operator:{username or '?'}",
                _pretty(act.detail),
                level="info",
            )
        )
    entries.sort(key=lambda e: e.at)  # stable: within one source, insertion (id) order is kept
    return entries


def _deliveries(session: Session, payment_id: int) -> list[TimelineEntry]:
    """What each item delivered (esa_domain.fulfillment.delivery), secrets masked: a PIN or voucher code is
    shown only through the item's audited "Reveal" on the order page."""
    rows = session.execute(
        select(ItemDelivery)
        .join(PaymentItem, col(PaymentItem.id) == col(ItemDelivery.item_id))
        .where(col(PaymentItem.payment_id) == payment_id)
        .order_by(ItemDelivery.item_id)
    ).scalars()
    entries = []
    for d in rows:
        shown = {
            "serial": d.serial,
            "token": d.token,
            "customer_name": d.customer_name,
            "tariff": d.tariff,
            "kwh": d.kwh,
            "pin": "*** (sealed: Reveal on the item)" if d.pin_enc else None,
            "voucher_code": "*** (sealed: Reveal on the item)" if d.voucher_code_enc else None,
        }
        parts = [
            f"{k.replace('_', ' ')} {v}" for k, v in shown.items() if v and k not in ("pin", "voucher_code")
        ]
        parts += [f"{k.replace('_', ' ')} sealed" for k in ("pin", "voucher_code") if shown[k]]
        entries.append(
            TimelineEntry(
                d.created_at,
                "delivery",
                f"item #{d.item_id} delivered",
                " · ".join(parts),
                "system:fulfillment",
                _pretty({k: v for k, v in shown.items() if v}),
                level="ok",
            )
        )
    return entries
