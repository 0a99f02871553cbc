"""Promo codes made from the dashboard: a percentage or a fixed TWD amount, a validity window, a total limit, a
minimum order and a cap, uses per customer (once unless set; the database's uq_promo_usage_customer_use numbers
them) and the products it is for (promo_products; none: all). A use is given back when its order expires or is
refunded in full (esa_domain.ordering.promo_release). Audited in the caller's transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from esa_domain.core.errors import DomainError
from esa_domain.models import Operator, Product, Promo, PromoProduct, PromoUsage
from esa_domain.operations.operators import record_action, require_role

TAIPEI = ZoneInfo("Asia/Taipei")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,39}$")


class PromoError(DomainError):
    code = "promo_invalid"
    http_status = 422


def _whole(text: str, what: str, *, required: bool = False, minimum: int = 0) -> int | None:
    text = str(text or "").strip()
    if not text:
        if required:
            raise PromoError(f"{what} is required")
        return None
    if not text.isdigit() or int(text) < minimum:
        raise PromoError(f"{what} must be a whole number of at least {minimum}, not {text!r}")
    return int(text)


def _day(text: str, what: str) -> date | None:
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PromoError(f"{what} {text!r} is not a date: write it like 2026-01-31") from None


def create_promo(
    session: Session,
    actor: Operator,
    *,
    code: str,
    kind: str,
    value: str,
    starts_on: str = "",
    ends_on: str = "",
    max_uses: str = "",
    min_order_twd: str = "",
    max_discount_twd: str = "",
    per_customer: str = "",
    products: str = "",
) -> Promo:
    """A new promo code, valid from the start of `starts_on` to the end of `ends_on` (Taipei days, both optional).

    kind: "percent" (value 1-100) or "amount" (value in TWD); max_uses: uses in total (blank: no limit);
    per_customer: uses per customer (blank: 1); products: the product codes it is for, separated by commas or
    spaces (blank: every product; it then discounts only those lines of an order)."""
    require_role(actor, "admin")
    code = code.strip().upper()
    if not _CODE.match(code):
        raise PromoError(
            "the code is 3 to 40 letters, digits, '-' or '_' (customers type it; it is upper-cased)"
        )
    if kind not in ("percent", "amount"):
        raise PromoError("the discount is a percentage or a fixed amount")
    amount = _whole(value, "The discount", required=True, minimum=1)
    if kind == "percent" and amount > 100:  # type: ignore[operator]
        raise PromoError("a percentage discount is at most 100")
    start, end = _day(starts_on, "The first day"), _day(ends_on, "The last day")
    if start and end and start > end:
        raise PromoError(f"the first day ({start}) is after the last day ({end})")
    if session.exec(select(Promo.id).where(Promo.code == code)).first() is not None:
        raise PromoError(f"promo code {code} already exists; pick another")
    wanted = sorted({c for c in re.split(r"[\s,]+", products.strip()) if c})
    found = dict(session.exec(select(Product.code, Product.id).where(col(Product.code).in_(wanted))).all())
    if missing := [c for c in wanted if c not in found]:
        raise PromoError(f"there is no product {', '.join(missing)}: give product codes as on Shop set-up")
    promo = Promo(
        code=code,
        kind=kind,
        value=amount,
        max_uses=_whole(max_uses, "The total number of uses", minimum=1),
        min_order_twd=_whole(min_order_twd, "The minimum order") or 0,
        max_discount_twd=_whole(max_discount_twd, "The largest discount", minimum=1),
        per_customer_limit=_whole(per_customer, "The uses per customer", minimum=1) or 1,
        starts_at=datetime.combine(start, time.min, tzinfo=TAIPEI) if start else None,
        ends_at=datetime.combine(end, time.max, tzinfo=TAIPEI) if end else None,
    )
    session.add(promo)
    session.flush()
    session.add_all(PromoProduct(promo_id=promo.id, product_id=found[c]) for c in wanted)
    session.flush()
    record_action(
        session, actor.id, "promo_create", subject=f"promo:{promo.id}",
        detail={"code": code, "kind": kind, "value": amount, "starts_on": str(start or ""), "ends_on": str(end or ""),
                "max_uses": promo.max_uses, "per_customer": promo.per_customer_limit, "products": wanted},
    )  # fmt: skip
    return promo


def set_promo_active(session: Session, actor: Operator, promo_id: int, active: bool) -> Promo:
    """Stop offering a code (orders that used it keep their discount), or offer it again."""
    require_role(actor, "admin")
    promo = session.get(Promo, promo_id)
    if promo is None:
        raise PromoError(f"there is no promo #{promo_id}; reload the page")
    if promo.active != active:
        promo.active = active
        session.add(promo)
        record_action(
            session, actor.id, "promo_resume" if active else "promo_stop", subject=f"promo:{promo.id}",
            detail={"code": promo.code},
        )  # fmt: skip
        session.flush()
    return promo


@dataclass(frozen=True)
class PromoRow:
    id: int
    code: str
    kind: str
    value: int
    starts_at: datetime | None
    ends_at: datetime | None
    max_uses: int | None
    used_count: int
    customers: int
    discount_given_twd: int
    min_order_twd: int
    max_discount_twd: int | None
    active: bool
    per_customer_limit: int = 1
    products: tuple[str, ...] = ()  # the codes it is for; () for every product


def promo_rows(session: Session) -> list[PromoRow]:
    """Every promo, newest first, with how many customers used it and the discount given."""
    usage = (
        select(
            PromoUsage.promo_id,
            func.count().label("n"),
            func.coalesce(func.sum(PromoUsage.discount_twd), 0).label("given"),
        )
        .group_by(col(PromoUsage.promo_id))
        .subquery()
    )
    rows = session.execute(
        select(Promo, func.coalesce(usage.c.n, 0), func.coalesce(usage.c.given, 0))
        .outerjoin(usage, usage.c.promo_id == col(Promo.id))
        .order_by(col(Promo.id).desc())
    ).all()
    only: dict[int, list[str]] = {}
    for promo_id, product in session.execute(
        select(PromoProduct.promo_id, Product.code)
        .join(Product, col(Product.id) == col(PromoProduct.product_id))
        .order_by(Product.code)
    ).all():
        only.setdefault(promo_id, []).append(product)
    return [
        PromoRow(
            p.id, p.code, p.kind, p.value, p.starts_at, p.ends_at, p.max_uses, p.used_count, int(n), int(given),
            p.min_order_twd, p.max_discount_twd, p.active, p.per_customer_limit, tuple(only.get(p.id, ())),
        )
        for p, n, given in rows
    ]  # fmt: skip
