"""Bills (issue 16): a bill inquiry as its own lifecycle, a quote priced from it, and an order paying exactly it.

    inquire()          REQUESTED (committed before the inquiry leaves) -> QUOTED | NOT_FOUND | FAILED
    place_bill_order() QUOTED -> USED, in the transaction that writes the order (payment + one item)
    expire_quotes()    QUOTED -> EXPIRED once its time has passed

The cheapest supplier that carries the bill and can inquire is asked; if it cannot answer (a timeout, maintenance:
nothing was paid there) the next is, under an inquiry of its own; "no bill to pay" is the bill's own answer. The quote's TWD total is the supplier's
price for the bill (IDR, what our deposit pays) plus its fees at the newest stored rate, with the margin rule of
the last reprice (esa_domain.catalog.pricing). The order stores the inquiry (`bill_inquiries.payment_item_id`,
unique): a quote pays one item, ever. That item is paid only at the supplier that answered, with the inquiry's
reference (`bill_for_attempt` gives the engine the `BillRef`); no other supplier is tried for it, because a
bill may not be "tried" elsewhere without a fresh inquiry there: a failure there fails the item and it is
refunded (esa_domain.fulfillment.routing skips other suppliers for an item paying an inquiry).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import BillAnswer, BillQuery, BillRef, FailureClass, Outcome
from esa_domain.catalog.fx import PAIR, effective_cost_twd, ensure_fresh
from esa_domain.catalog.pricing import PricingRule, last_reprice
from esa_domain.core.errors import (
    DomainError,
    InvalidRequest,
    NotFoundError,
    ProductUnavailable,
    UnknownProduct,
)
from esa_domain.core.states import BILL_INQUIRY, BillInquiryStatus
from esa_domain.core.transitions import born, move
from esa_domain.infra.db import UnitOfWork
from esa_domain.invoicing.carrier import Carrier
from esa_domain.ordering.orders import (
    CatalogProduct,
    OrderLine,
    OrderPolicy,
    OrderRequest,
    PlacedOrder,
    Quote,
    _existing,
    _PricedLine,
    _validate_shape,
    _write,
    request_hash,
)

ACTOR = "system:bills"
B = BillInquiryStatus
_CUSTOMER_NO = re.compile(r"^[0-9A-Za-z.-]{4,30}$")


class BillNotFound(DomainError):
    code = "bill_not_found"
    http_status = 404


class BillInquiryUnavailable(DomainError):
    code = "bill_inquiry_unavailable"
    http_status = 503


class BillQuoteExpired(DomainError):
    code = "bill_quote_expired"
    http_status = 409


class BillQuoteUsed(DomainError):
    code = "bill_quote_used"
    http_status = 409


@dataclass(frozen=True)
class BillPolicy:
    quote_ttl: timedelta = timedelta(minutes=15)  # how long a quote is held (IAK's inquiries go stale too)
    fx_max_age: timedelta = timedelta(hours=24)
    max_months: int = 12


@dataclass(frozen=True)
class BillQuote:
    """An inquiry as the customer reads it."""

    id: int
    status: str
    product_code: str
    product_name: str
    customer_no: str
    months: int | None
    customer_name: str | None
    periods: str | None
    bill_idr: int | None
    admin_idr: int | None
    price_idr: int | None
    amount_twd: int | None
    expires_at: datetime | None
    message: str | None


@dataclass(frozen=True)
class _Carrier:
    product_id: int
    product_code: str
    product_name: str
    supplier_id: int
    supplier_code: str
    sku: str
    fee_idr: int
    fee_twd: int


_CARRIERS = text(
    """
    SELECT p.id AS product_id, p.code AS product_code, p.name AS product_name, p.active, c.kind,
           s.id AS supplier_id, s.code AS supplier_code, o.supplier_sku AS sku, o.cost_idr, s.fee_idr, s.fee_twd
    FROM products p JOIN product_categories c ON c.id = p.category_id
    LEFT JOIN supplier_offers o ON o.product_id = p.id AND o.available
    LEFT JOIN suppliers s ON s.id = o.supplier_id AND s.enabled
        AND (s.circuit_open_until IS NULL OR s.circuit_open_until <= :now)
    WHERE p.code = :code
    ORDER BY o.cost_idr + s.fee_idr, s.code COLLATE "C"
    """
)
_RATE = text(
    "SELECT id, rate, fetched_at FROM fx_rates WHERE pair = :pair ORDER BY fetched_at DESC, id DESC LIMIT 1"
)

_BORN = text(
    f"""
    WITH r AS (
        INSERT INTO bill_inquiries (customer_id, product_id, supplier_id, reference, customer_no, months, region,
            status, supplier_sku, created_at, updated_at)
        VALUES (:customer, :product, :supplier, :reference, :customer_no, :months, :region,
            '{B.REQUESTED}', :sku, :now, :now)
        RETURNING id, customer_id
    ), {born(BILL_INQUIRY, rows="r", name="rh", cause="'inquiry sent'", actor=":actor")}
    SELECT id FROM r
    """  # noqa: S608 (constants only)
)


def _moved(ctes: str) -> Any:
    return text(f"WITH {ctes} SELECT id FROM moved")  # noqa: S608 (built from constants only)


_ANSWERED = {
    to: _moved(
        move(
            BILL_INQUIRY,
            to=to,
            from_=[B.REQUESTED],
            where="t.id = :id",
            cause=":cause",
            actor=":actor",
            sets=(
                ", supplier_txn_id = :txn_id, supplier_code = :code, message = :message, customer_name = :name,"
                " periods = :periods, bill_idr = :bill_idr, admin_idr = :admin_idr, price_idr = :price_idr,"
                " cost_idr = :cost_idr, fx_rate_id = :fx_rate_id, fx_rate = :fx_rate, amount_twd = :amount_twd,"
                " detail_json = CAST(:detail AS jsonb), request_json = CAST(:request AS jsonb),"
                " response_json = CAST(:response AS jsonb), http_status = :http_status, expires_at = :expires_at"
            ),
        )
    )
    for to in (B.QUOTED, B.NOT_FOUND, B.FAILED)
}

_USE = _moved(
    move(
        BILL_INQUIRY,
        to=B.USED,
        from_=[B.QUOTED],
        where="t.id = :id AND t.customer_id = :customer AND t.expires_at > :now",
        cause=":cause",
        actor=":actor",
        sets=", payment_item_id = :item",
    )
)
_EXPIRE = _moved(
    move(
        BILL_INQUIRY,
        to=B.EXPIRED,
        from_=[B.QUOTED],
        where="t.expires_at <= :now AND (CAST(:id AS bigint) IS NULL OR t.id = CAST(:id AS bigint))",
        cause="'quote expired unused'",
        actor=":actor",
    )
)

_QUOTE = text(
    """
    SELECT b.*, p.code AS product_code, p.name AS product_name, p.target_kind
    FROM bill_inquiries b JOIN products p ON p.id = b.product_id
    WHERE b.id = :id
    """
)


def _carriers(session: Session, code: str, now: datetime, adapters: Mapping[str, Any]) -> list[_Carrier]:
    rows = session.execute(_CARRIERS, {"code": code, "now": now}).all()
    if not rows:
        raise UnknownProduct(f"there is no product '{code}'", product=code)
    first = rows[0]
    if first.kind != "postpaid":
        raise InvalidRequest(f"{first.product_name} is not a bill: buy it as a top-up instead", product=code)
    if not first.active:
        raise ProductUnavailable(f"{first.product_name} is not on sale at the moment", product=code)
    found = [
        _Carrier(
            r.product_id,
            r.product_code,
            r.product_name,
            r.supplier_id,
            r.supplier_code,
            r.sku,
            r.fee_idr,
            r.fee_twd,
        )
        for r in rows
        if r.supplier_id is not None and hasattr(adapters.get(r.supplier_code), "inquire_bill")
    ]
    if not found:
        raise ProductUnavailable(
            f"{first.product_name} bills cannot be checked right now (no supplier carries them); please try later",
            product=code,
        )
    return found


def _rule(session: Session) -> PricingRule:
    last = last_reprice(session)
    return last.rule if last is not None else PricingRule()


def _months(sku: str, months: int | None, policy: BillPolicy) -> int | None:
    if months is None:
        return 1 if sku.upper().startswith("BPJS") else None
    if not 1 <= months <= policy.max_months:
        raise InvalidRequest(f"choose between 1 and {policy.max_months} months", months=months)
    return months


def _last(answer: BillAnswer) -> tuple[Any, Any, int | None]:
    if not answer.exchanges:
        return None, None, None
    x = answer.exchanges[-1]
    return x.request, x.response, x.http_status


def inquire(
    uow: UnitOfWork,
    adapters: Mapping[str, Any],
    *,
    customer_id: int,
    product_code: str,
    customer_no: str,
    months: int | None = None,
    region: str | None = None,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
    policy: BillPolicy | None = None,
) -> BillQuote:
    """Ask the cheapest supplier carrying the bill about it and keep its answer as a quote (or its refusal); one
    that cannot answer hands over to the next (each asked under an inquiry of its own)."""
    policy = policy or BillPolicy()
    now = now or datetime.now(UTC)
    session = uow.session
    number = (customer_no or "").strip().replace(" ", "")
    if not _CUSTOMER_NO.match(number):
        raise InvalidRequest("the customer number is 4 to 30 letters or digits, as printed on the bill")
    carriers = _carriers(session, product_code, now, adapters)
    rate_row = session.execute(_RATE, {"pair": PAIR}).first()
    ensure_fresh(rate_row.fetched_at if rate_row else None, now=now, max_age=policy.fx_max_age)
    assert rate_row is not None
    # A supplier that could not answer (a timeout, maintenance) was paid nothing: the next one that carries the
    # bill is asked. "No bill to pay" (NOT_FOUND) is an answer about the bill itself: no other is asked.
    for carrier in carriers:
        inquiry_id, to = _ask(
            uow,
            adapters,
            carrier,
            customer_id,
            number,
            _months(carrier.sku, months, policy),
            region,
            rate_row,
            now,
            clock,
            policy,
        )
        if to != B.FAILED:
            break
    return load_quote(session, inquiry_id, customer_id)


def _ask(
    uow: UnitOfWork,
    adapters: Mapping[str, Any],
    carrier: _Carrier,
    customer_id: int,
    number: str,
    months: int | None,
    region: str | None,
    rate_row: Any,
    now: datetime,
    clock: Callable[[], datetime] | None,
    policy: BillPolicy,
) -> tuple[int, str]:
    """One inquiry at one supplier: born REQUESTED and committed before the request leaves, then answered."""
    session = uow.session
    reference = "Q" + now.strftime("%y%m%d") + secrets.token_hex(6).upper()
    inquiry_id = session.execute(
        _BORN,
        {
            "customer": customer_id,
            "product": carrier.product_id,
            "supplier": carrier.supplier_id,
            "reference": reference,
            "customer_no": number,
            "months": months,
            "region": region,
            "sku": carrier.sku,
            "now": now,
            "actor": ACTOR,
        },
    ).scalar_one()
    uow.commit()  # the inquiry exists before the request leaves

    answer: BillAnswer = adapters[carrier.supplier_code].inquire_bill(
        BillQuery(reference, carrier.sku, number, months=months, region=region)
    )
    o = answer.outcome
    request_json, response_json, http_status = _last(answer)
    values: dict[str, Any] = {
        "id": inquiry_id,
        "actor": ACTOR,
        "txn_id": o.supplier_txn_id,
        "code": o.supplier_code,
        "message": (o.message or "")[:300],
        "name": None,
        "periods": None,
        "bill_idr": None,
        "admin_idr": None,
        "price_idr": None,
        "cost_idr": None,
        "fx_rate_id": None,
        "fx_rate": None,
        "amount_twd": None,
        "detail": None,
        "request": json.dumps(request_json),
        "response": json.dumps(response_json),
        "http_status": http_status,
        "expires_at": None,
    }
    cost = answer.cost_idr or answer.price_idr
    if o.outcome is Outcome.SUCCESS and cost and answer.price_idr:
        rate = Decimal(rate_row.rate)
        cost_twd = effective_cost_twd(cost, rate, fee_idr=carrier.fee_idr, fee_twd=carrier.fee_twd)
        values.update(
            name=(answer.customer_name or "")[:120] or None,
            periods=(answer.periods or "")[:120] or None,
            bill_idr=answer.bill_idr,
            admin_idr=answer.admin_idr,
            price_idr=answer.price_idr,
            cost_idr=cost,
            fx_rate_id=rate_row.id,
            fx_rate=rate,
            amount_twd=_rule(session).price_for(cost_twd),
            detail=json.dumps(answer.detail),
            expires_at=(clock() if clock else now) + policy.quote_ttl,
        )
        to, cause = B.QUOTED, f"bill found: {answer.price_idr} IDR"
    elif o.outcome is Outcome.FAILED and o.failure_class is FailureClass.CUSTOMER:
        to, cause = B.NOT_FOUND, f"no bill to pay: {o.supplier_code} {o.message}"
    else:
        to, cause = B.FAILED, f"supplier could not answer: {o.outcome} {o.supplier_code or ''} {o.message}"
    values["cause"] = cause[:300]
    session.execute(_ANSWERED[to], values)
    uow.commit()
    return inquiry_id, to


def load_quote(session: Session, inquiry_id: int, customer_id: int | None = None) -> BillQuote:
    row = session.execute(_QUOTE, {"id": inquiry_id}).first()
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise NotFoundError(f"there is no bill inquiry {inquiry_id}")
    return BillQuote(
        row.id,
        row.status,
        row.product_code,
        row.product_name,
        row.customer_no,
        row.months,
        row.customer_name,
        row.periods,
        row.bill_idr,
        row.admin_idr,
        row.price_idr,
        row.amount_twd,
        row.expires_at,
        row.message,
    )


def refusal(quote: BillQuote) -> DomainError | None:
    """What a customer reads for an inquiry that found nothing to pay (None for a quote)."""
    if quote.status == B.NOT_FOUND:
        return BillNotFound(
            "no bill to pay was found for this number: check the number, or the bill is already paid",
            supplier_message=quote.message,
        )
    if quote.status == B.FAILED:
        return BillInquiryUnavailable(
            "the bill cannot be checked right now; please try again in a few minutes"
        )
    return None


def place_bill_order(
    uow: UnitOfWork,
    *,
    customer_id: int,
    inquiry_id: int,
    idempotency_key: str,
    now: datetime | None = None,
    policy: OrderPolicy | None = None,
    carrier: Carrier | None = None,
) -> PlacedOrder:
    """Place the order paying the bill of a quote: the payment, one item at the quote's TWD total, and the
    quote moved QUOTED -> USED with that item, in one transaction. A second order from the same quote is refused
    (BillQuoteUsed), an expired quote too (BillQuoteExpired: inquire again); the same idempotency key replays."""
    now = now or datetime.now(UTC)
    policy = policy or OrderPolicy()
    session = uow.session
    row = session.execute(_QUOTE, {"id": inquiry_id}).first()
    if row is None or row.customer_id != customer_id:
        raise NotFoundError(f"there is no bill inquiry {inquiry_id}")
    # `carrier`: where its e-invoice goes (issue 19; the customer's saved one), written with the payment
    request = OrderRequest(
        customer_id, idempotency_key, (OrderLine(row.product_code, row.customer_no),), None, carrier
    )
    _validate_shape(request, policy)
    digest = request_hash([(row.product_code, row.customer_no, f"bill:{inquiry_id}")], None)
    replay = _existing(session, request, digest)
    if replay is not None:
        uow.rollback()
        return replay
    if row.status == B.USED:
        uow.rollback()
        raise BillQuoteUsed(
            "this bill has already been ordered; open that order to follow it", inquiry=inquiry_id
        )
    if row.status != B.QUOTED or row.expires_at is None or row.expires_at <= now:
        if row.status == B.QUOTED:
            session.execute(_EXPIRE, {"id": inquiry_id, "now": now, "actor": ACTOR})
            uow.commit()
        else:
            uow.rollback()
        raise BillQuoteExpired("this bill's quote has expired; check the bill again for a fresh amount")
    product = CatalogProduct(
        row.product_id, row.product_code, row.product_name, row.amount_twd, True, row.target_kind
    )
    line = _PricedLine(product, row.customer_no, None, row.cost_idr, Decimal(row.amount_twd))
    q = Quote(
        lines=[line],
        subtotal_twd=row.amount_twd,
        discount_twd=0,
        amount_twd=row.amount_twd,
        fx_rate_id=row.fx_rate_id,
        fx_rate=row.fx_rate,
        cost_idr=row.cost_idr,
        cost_twd=effective_cost_twd(row.cost_idr, row.fx_rate),
    )
    placed = _write(session, request, q, digest, now, policy)
    if placed is None:  # the key was taken meanwhile by a concurrent request
        uow.rollback()
        replay = _existing(session, request, digest)
        if replay is None:
            raise InvalidRequest("this Idempotency-Key is in use by an order being placed; retry")
        return replay
    used = session.execute(
        _USE,
        {
            "id": inquiry_id,
            "customer": customer_id,
            "now": now,
            "item": placed.item_ids[0],
            "cause": f"ordered as {placed.merchant_trade_no}",
            "actor": ACTOR,
        },
    ).first()
    if used is None:  # another order took the quote first (we waited on its lock): ours is not written
        uow.rollback()
        raise BillQuoteUsed(
            "this bill has already been ordered; open that order to follow it", inquiry=inquiry_id
        )
    uow.commit()
    return placed


def expire_quotes(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """Quotes whose time passed unused: EXPIRED (a fresh inquiry is needed to pay the bill)."""
    moved = uow.session.execute(_EXPIRE, {"id": None, "now": now or datetime.now(UTC), "actor": ACTOR}).all()
    uow.commit()
    return len(moved)


_BILL_FOR_ATTEMPT = text(
    """
    SELECT b.reference, b.supplier_txn_id, b.price_idr, b.months
    FROM item_attempts a JOIN bill_inquiries b ON b.payment_item_id = a.item_id AND b.supplier_id = a.supplier_id
    WHERE a.reference = :reference
    """
)


def bill_for_attempt(session: Session, reference: str) -> BillRef | None:
    """The inquiry an attempt pays (None for a bill ordered without one): what the payment call must carry."""
    row = session.execute(_BILL_FOR_ATTEMPT, {"reference": reference}).first()
    if row is None:
        return None
    return BillRef(row.reference, row.supplier_txn_id, row.price_idr, row.months)


_BILLS_OF_ITEMS = text(
    """
    SELECT payment_item_id, customer_name, periods, bill_idr, admin_idr, price_idr AS total_idr
    FROM bill_inquiries WHERE payment_item_id = ANY(:items)
    """
)


def bills_for_items(session: Session, item_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The bill each of these items pays (by item id), as its supplier stated it: name, period(s), amounts."""
    if not item_ids:
        return {}
    rows = session.execute(_BILLS_OF_ITEMS, {"items": list(item_ids)}).mappings().all()
    return {r["payment_item_id"]: {k: v for k, v in r.items() if k != "payment_item_id"} for r in rows}
