"""Quote, promo check and order placement for the API: the domain does the work; this maps its errors to
the request field at fault, so the Mini App can point at the box to fix."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from esa_api.customer import reads
from esa_api.customer.problems import Problem
from esa_api.customer.schemas import LineIn, OrderOut, QuoteLineOut, QuoteOut
from esa_domain.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidTarget,
    PromoAlreadyUsed,
    PromoError,
    UnknownProduct,
)
from esa_domain.models import Product, PromoUsage
from esa_domain.orders import OrderLine, OrderPolicy, OrderRequest, PlacedOrder, Quote, place_order, quote
from esa_domain.runtime import Runtime
from esa_domain.targets import validate_target

QUOTE_KEY = "quote"  # quotes write nothing; the domain's shape check still wants a key


def _lines(items: Sequence[LineIn]) -> tuple[OrderLine, ...]:
    return tuple(OrderLine(i.product_code, i.target, i.zone or None) for i in items)


def check_targets(session: Session, items: Sequence[LineIn]) -> None:
    """Problem 422 naming `items[i].target` / `.zone` / `.product_code` for the first line that is wrong."""
    codes = {i.product_code for i in items}
    kinds = dict(
        session.exec(select(Product.code, Product.target_kind).where(col(Product.code).in_(codes))).all()
    )
    for n, item in enumerate(items):
        kind = kinds.get(item.product_code)
        if kind is None:
            error = UnknownProduct(f"there is no product '{item.product_code}'; pick one from the catalog")
            raise Problem.of(error, field=f"items[{n}].product_code")
        try:
            validate_target(kind, item.target, item.zone)
        except InvalidTarget as exc:
            raise Problem.of(exc, field=f"items[{n}].{_bad_part(kind, item)}") from None


def _bad_part(kind: str, item: LineIn) -> str:
    if kind != "game_id_zone":
        return "target"
    try:
        validate_target("game_id", item.target)
    except InvalidTarget:
        return "target"
    return "zone"  # the user id is fine, so the zone is what is wrong


def _field_for(error: DomainError, items: Sequence[LineIn]) -> str | None:
    if isinstance(error, PromoError):
        return "promo_code"
    if isinstance(error, IdempotencyConflict):
        return "Idempotency-Key"
    product = error.details.get("product")
    for n, item in enumerate(items):
        if item.product_code == product:
            return f"items[{n}].product_code"
    return None


def _quote_out(q: Quote, promo_code: str | None) -> QuoteOut:
    return QuoteOut(
        items=[
            QuoteLineOut(
                product_code=line.product.code,
                product_name=line.product.name,
                target=line.target,
                zone=line.zone,
                price_twd=line.product.price_twd,
            )
            for line in q.lines
        ],
        subtotal_twd=q.subtotal_twd,
        discount_twd=q.discount_twd,
        amount_twd=q.amount_twd,
        promo_code=q.promo.code if q.promo else None,
    )


def price(
    engine: Engine, customer_id: int, items: Sequence[LineIn], promo_code: str | None, policy: OrderPolicy
) -> QuoteOut:
    """Price a basket for this customer without writing anything; a promo they already used is refused."""
    with Session(engine) as s:
        check_targets(s, items)
        request = OrderRequest(customer_id, QUOTE_KEY, _lines(items), promo_code)
        try:
            q = quote(s, request, now=datetime.now(UTC), policy=policy)
            if q.promo is not None:
                used = s.exec(
                    select(PromoUsage.id).where(
                        PromoUsage.promo_id == q.promo.id, PromoUsage.customer_id == customer_id
                    )
                ).first()
                if used is not None:
                    raise PromoAlreadyUsed(f"you have already used promo code '{q.promo.code}'")
        except DomainError as exc:
            raise Problem.of(exc, field=_field_for(exc, items)) from None
        return _quote_out(q, promo_code)


def place(
    rt: Runtime,
    customer_id: int,
    key: str,
    items: Sequence[LineIn],
    promo_code: str | None,
    policy: OrderPolicy,
    public_url: str,
) -> tuple[PlacedOrder, OrderOut | None]:
    """Place the order in one unit of work (outbox rows dispatched after the commit); return it and the
    customer's view of it, read on the same connection."""
    request = OrderRequest(customer_id, key, _lines(items), promo_code)
    try:
        with rt.uow() as uow:
            check_targets(uow.session, items)
            placed = place_order(uow, request, policy=policy)
            return placed, reads.order_view(uow.session, customer_id, placed.payment_id, public_url)
    except DomainError as exc:
        raise Problem.of(exc, field=_field_for(exc, items)) from None
