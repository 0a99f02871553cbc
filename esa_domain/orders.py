"""`place_order`: validate, price, apply a promo, and write the whole order in one transaction.

Idempotency: (customer, Idempotency-Key) is unique in the database. The same key with the same request
returns the same order; the same key with a different request is a conflict; concurrent duplicates race on
the unique index and exactly one wins, the others read its order back.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from esa_domain import outbox
from esa_domain.db import UnitOfWork
from esa_domain.errors import (
    IdempotencyConflict,
    InvalidRequest,
    ProductUnavailable,
    PromoAlreadyUsed,
    PromoExhausted,
    PromoExpired,
    PromoMinimumNotMet,
    PromoNotStarted,
    PromoUnknown,
    UnknownProduct,
)
from esa_domain.fx import effective_cost_twd, usable_rate
from esa_domain.models import (
    Customer,
    Payment,
    PaymentHistory,
    PaymentItem,
    Product,
    Promo,
    PromoUsage,
    Supplier,
    SupplierOffer,
)
from esa_domain.states import ItemStatus, PaymentStatus
from esa_domain.targets import validate_target

ACTOR = "system:orders"
_TRADE_NO_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class OrderLine:
    product_code: str
    target: str
    zone: str | None = None


@dataclass(frozen=True)
class OrderRequest:
    customer_id: int
    idempotency_key: str
    lines: tuple[OrderLine, ...]
    promo_code: str | None = None


@dataclass(frozen=True)
class OrderPolicy:
    payment_window: timedelta = timedelta(minutes=30)
    fx_max_age: timedelta = timedelta(hours=24)
    max_items: int = 10


@dataclass(frozen=True)
class PlacedOrder:
    payment_id: int
    merchant_trade_no: str
    amount_twd: int
    status: str
    expires_at: datetime
    replayed: bool = False  # True when the idempotency key returned an existing order


@dataclass
class _PricedLine:
    product: Product
    target: str
    zone: str | None
    cost_idr: int
    cost_twd: Decimal


@dataclass
class Quote:
    lines: list[_PricedLine]
    subtotal_twd: int
    discount_twd: int
    amount_twd: int
    fx_rate_id: int
    fx_rate: Decimal
    cost_idr: int
    cost_twd: Decimal
    promo: Promo | None = None
    notes: list[str] = field(default_factory=list)


def new_merchant_trade_no(now: datetime) -> str:
    """Unique forever per merchant: 'E' + yymmdd + 13 random alphanumerics (20 characters, ECPay's limit)."""
    return "E" + now.strftime("%y%m%d") + "".join(secrets.choice(_TRADE_NO_ALPHABET) for _ in range(13))


def request_hash(lines: list[tuple[str, str, str | None]], promo_code: str | None) -> str:
    canonical = json.dumps(
        {"lines": lines, "promo": (promo_code or "").upper() or None}, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validate_shape(request: OrderRequest, policy: OrderPolicy) -> None:
    key = request.idempotency_key
    if not key or len(key) > 80 or not key.isprintable():
        raise InvalidRequest("an Idempotency-Key of 1 to 80 printable characters is required")
    if not request.lines:
        raise InvalidRequest("an order needs at least one item")
    if len(request.lines) > policy.max_items:
        raise InvalidRequest(f"an order holds at most {policy.max_items} items")


def _cheapest_offer(session: Session, product: Product, rate: Decimal) -> tuple[int, Decimal]:
    rows = session.exec(
        select(SupplierOffer, Supplier)
        .join(Supplier, col(Supplier.id) == col(SupplierOffer.supplier_id))
        .where(SupplierOffer.product_id == product.id, col(SupplierOffer.available), col(Supplier.enabled))
    ).all()
    if not rows:
        raise ProductUnavailable(
            f"{product.name} cannot be delivered right now (no supplier has it in stock); please try later",
            product=product.code,
        )
    best = min(
        rows,
        key=lambda r: effective_cost_twd(r[0].cost_idr, rate, fee_idr=r[1].fee_idr, fee_twd=r[1].fee_twd),
    )
    offer, supplier = best
    return offer.cost_idr, effective_cost_twd(
        offer.cost_idr, rate, fee_idr=supplier.fee_idr, fee_twd=supplier.fee_twd
    )


def _promo_discount(session: Session, code: str, subtotal: int, now: datetime) -> tuple[Promo, int]:
    promo = session.exec(select(Promo).where(Promo.code == code.strip().upper())).first()
    if promo is None or not promo.active:
        raise PromoUnknown(f"promo code '{code}' does not exist or is no longer offered")
    if promo.starts_at and now < promo.starts_at:
        raise PromoNotStarted(f"promo code '{code}' starts on {promo.starts_at:%Y-%m-%d}")
    if promo.ends_at and now >= promo.ends_at:
        raise PromoExpired(f"promo code '{code}' expired on {promo.ends_at:%Y-%m-%d}")
    if promo.max_uses is not None and promo.used_count >= promo.max_uses:
        raise PromoExhausted(f"promo code '{code}' has been used up")
    if subtotal < promo.min_order_twd:
        raise PromoMinimumNotMet(f"promo code '{code}' needs an order of at least NT${promo.min_order_twd}")
    discount = subtotal * promo.value // 100 if promo.kind == "percent" else promo.value
    if promo.max_discount_twd is not None:
        discount = min(discount, promo.max_discount_twd)
    return promo, min(discount, subtotal - 1)  # ECPay charges at least NT$1


def quote(session: Session, request: OrderRequest, *, now: datetime, policy: OrderPolicy) -> Quote:
    """Validate and price a request without writing anything."""
    _validate_shape(request, policy)
    rate = usable_rate(session, now=now, max_age=policy.fx_max_age)
    codes = {line.product_code for line in request.lines}
    products = {p.code: p for p in session.exec(select(Product).where(col(Product.code).in_(codes))).all()}
    priced: list[_PricedLine] = []
    for line in request.lines:
        product = products.get(line.product_code)
        if product is None:
            raise UnknownProduct(f"there is no product '{line.product_code}'", product=line.product_code)
        if not product.active:
            raise ProductUnavailable(f"{product.name} is not on sale at the moment", product=product.code)
        target, zone = validate_target(product.target_kind, line.target, line.zone)
        cost_idr, cost_twd = _cheapest_offer(session, product, rate.rate)
        priced.append(_PricedLine(product, target, zone, cost_idr, cost_twd))
    subtotal = sum(p.product.price_twd for p in priced)
    promo, discount = (None, 0)
    if request.promo_code:
        promo, discount = _promo_discount(session, request.promo_code, subtotal, now)
    return Quote(
        lines=priced,
        subtotal_twd=subtotal,
        discount_twd=discount,
        amount_twd=subtotal - discount,
        fx_rate_id=rate.id,  # type: ignore[arg-type]
        fx_rate=rate.rate,
        cost_idr=sum(p.cost_idr for p in priced),
        cost_twd=sum((p.cost_twd for p in priced), Decimal(0)),
        promo=promo,
    )


def _request_digest(session: Session, request: OrderRequest) -> str:
    codes = {line.product_code for line in request.lines}
    kinds = dict(
        session.exec(select(Product.code, Product.target_kind).where(col(Product.code).in_(codes))).all()
    )
    normalised = []
    for line in request.lines:
        if line.product_code not in kinds:
            raise UnknownProduct(f"there is no product '{line.product_code}'", product=line.product_code)
        target, zone = validate_target(kinds[line.product_code], line.target, line.zone)
        normalised.append((line.product_code, target, zone))
    return request_hash(normalised, request.promo_code)


def _existing(session: Session, request: OrderRequest, digest: str) -> PlacedOrder | None:
    payment = session.exec(
        select(Payment).where(
            Payment.customer_id == request.customer_id, Payment.idempotency_key == request.idempotency_key
        )
    ).first()
    if payment is None:
        return None
    if payment.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different order; use a new key for a new order",
            payment_id=payment.id,
        )
    return PlacedOrder(
        payment.id, payment.merchant_trade_no, payment.amount_twd, payment.status, payment.expires_at, True
    )  # type: ignore[arg-type]


def place_order(
    uow: UnitOfWork, request: OrderRequest, *, now: datetime | None = None, policy: OrderPolicy | None = None
) -> PlacedOrder:
    """Validate, price and write an order (payment, items, history, promo usage, outbox) in one transaction."""
    now = now or datetime.now(UTC)
    policy = policy or OrderPolicy()
    session = uow.session
    _validate_shape(request, policy)
    if session.get(Customer, request.customer_id) is None:
        raise InvalidRequest(f"customer {request.customer_id} does not exist")
    # a replay returns the original order even if prices or availability changed since: recognise it first
    digest = _request_digest(session, request)
    replay = _existing(session, request, digest)
    if replay is not None:
        uow.rollback()
        return replay
    q = quote(session, request, now=now, policy=policy)
    try:
        placed = _write(session, request, q, digest, now, policy)
        uow.commit()
        return placed
    except IntegrityError as exc:
        uow.rollback()
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if constraint == "uq_payment_idempotency":
            replay = _existing(session, request, digest)  # a concurrent duplicate won the race
            if replay is not None:
                return replay
        if constraint == "ck_promo_usage_limit":
            raise PromoExhausted(f"promo code '{request.promo_code}' has been used up") from None
        if constraint == "uq_promo_usage_customer":
            raise PromoAlreadyUsed(f"you have already used promo code '{request.promo_code}'") from None
        raise


def _write(
    session: Session, request: OrderRequest, q: Quote, digest: str, now: datetime, policy: OrderPolicy
) -> PlacedOrder:
    expires_at = now + policy.payment_window
    payment = Payment(
        merchant_trade_no=new_merchant_trade_no(now),
        customer_id=request.customer_id,
        status=PaymentStatus.PENDING,
        subtotal_twd=q.subtotal_twd,
        discount_twd=q.discount_twd,
        amount_twd=q.amount_twd,
        promo_id=q.promo.id if q.promo else None,
        fx_rate_id=q.fx_rate_id,
        fx_rate=q.fx_rate,
        cost_idr=q.cost_idr,
        cost_twd=q.cost_twd,
        idempotency_key=request.idempotency_key,
        request_hash=digest,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(payment)
    session.flush()  # takes the idempotency unique index first: a duplicate stops here
    session.add(
        PaymentHistory(
            payment_id=payment.id, to_status=PaymentStatus.PENDING, cause="order placed", actor=ACTOR
        )
    )
    for line in q.lines:
        item = PaymentItem(
            payment_id=payment.id,
            product_id=line.product.id,
            target=line.target,
            zone=line.zone,
            status=ItemStatus.PENDING,
            price_twd=line.product.price_twd,
            cost_idr=line.cost_idr,
        )
        session.add(item)
        session.flush()
        session.add(
            PaymentHistory(
                payment_id=payment.id,
                item_id=item.id,
                to_status=ItemStatus.PENDING,
                cause="order placed",
                actor=ACTOR,
            )
        )
    if q.promo is not None:
        # the CHECK constraint refuses the use past max_uses; the unique index refuses a second use per customer
        session.execute(
            text("UPDATE promos SET used_count = used_count + 1 WHERE id = :id"), {"id": q.promo.id}
        )
        session.add(
            PromoUsage(
                promo_id=q.promo.id,
                customer_id=request.customer_id,
                payment_id=payment.id,
                discount_twd=q.discount_twd,
            )
        )
    # at the end of the payment window: ask ECPay, then heal or expire (the 10-minute reconciler is the safety net)
    outbox.record(
        session, "check_payment", {"payment_id": payment.id}, available_at=expires_at + timedelta(minutes=1)
    )
    session.flush()
    return PlacedOrder(payment.id, payment.merchant_trade_no, payment.amount_twd, payment.status, expires_at)  # type: ignore[arg-type]
