"""Where a product stands in the customer's list and the daily hours it is offered (issue 18), set on the Shop
set-up page; the customer's catalog (esa_api/customer/reads.py) orders by the first and offers a product outside
its hours as not available now. Hours are Taipei time, like every day the dashboard shows; a window whose start
is after its end runs across midnight (22:00-02:00)."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session

from esa_domain.catalog.admin import CatalogError
from esa_domain.models import Operator, Product
from esa_domain.operations.operators import record_action, require_role

TAIPEI = ZoneInfo("Asia/Taipei")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _hour(text: str, what: str) -> time | None:
    text = str(text or "").strip()
    if not text:
        return None
    m = _HHMM.match(text)
    if m is None:
        raise CatalogError(
            f"{what} {text!r} is not a time of day: write it like 08:00 or 22:30 (Taipei time)"
        )
    return time(int(m.group(1)), int(m.group(2)))


def in_sale_hours(sale_from: time | None, sale_until: time | None, now: datetime) -> bool:
    """Whether `now` falls in the daily window [from, until) in Taipei time; no window: always."""
    if sale_from is None or sale_until is None:
        return True
    local = now.astimezone(TAIPEI).time().replace(tzinfo=None)
    if sale_from < sale_until:
        return sale_from <= local < sale_until
    return local >= sale_from or local < sale_until  # across midnight


def hours_words(sale_from: time | None, sale_until: time | None) -> str:
    if sale_from is None or sale_until is None:
        return "all day"
    return f"{sale_from:%H:%M}-{sale_until:%H:%M}"


def set_product_display(
    session: Session,
    actor: Operator,
    product_id: int,
    *,
    display_order: str | int = "",
    sale_from: str = "",
    sale_until: str = "",
) -> Product:
    """Set a product's place in the list (a whole number, lower first; blank: 0) and its daily hours (both blank:
    all day). Admin only, audited in the caller's transaction."""
    require_role(actor, "admin")
    product = session.get(Product, product_id)
    if product is None:
        raise CatalogError(f"there is no product #{product_id}; reload the page")
    text = str(display_order).strip()
    if text and not (text.isdigit() and int(text) <= 100000):
        raise CatalogError(f"the display order is a whole number from 0 to 100000, not {text!r}")
    order = int(text) if text else 0
    start, end = _hour(sale_from, "The first hour"), _hour(sale_until, "The last hour")
    if (start is None) != (end is None):
        raise CatalogError("give both hours of the window (from and until), or neither for all day")
    if start is not None and start == end:
        raise CatalogError("the window's start and end are the same time: leave both blank for all day")
    before = {
        "display_order": product.display_order,
        "hours": hours_words(product.sale_from, product.sale_until),
    }
    product.display_order, product.sale_from, product.sale_until = order, start, end
    session.add(product)
    session.flush()
    after = {"display_order": order, "hours": hours_words(start, end)}
    if after != before:
        record_action(
            session, actor.id, "product_display", subject=f"product:{product.id}",
            detail={"code": product.code, **after, "before": before},
        )  # fmt: skip
    return product
