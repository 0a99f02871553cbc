"""Pricing rules: a product's TWD price from its cheapest usable cost at the current rate plus a margin (a
percentage with a minimum in TWD), rounded up to a retail step; previewed before it is applied, applied in bulk
(audited with the rule and the rate), and sale stopped for products that would sell below cost.

The rule last applied is read back from its audit row (action "reprice"), so the page offers it again and can
say how far the rate has moved since."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import update
from sqlmodel import Session, col, select

from esa_domain.catalog.fx import PAIR, latest_rate
from esa_domain.core.errors import DomainError
from esa_domain.models import Operator, OperatorAction, Product, ProductCategory
from esa_domain.operations.operators import record_action, require_role
from esa_domain.views.catalog import product_costs

BELOW_COST_REASON = "below cost at the current rate"


class PricingError(DomainError):
    code = "pricing_invalid"
    http_status = 422


@dataclass(frozen=True)
class PricingRule:
    """margin_pct: the margin over cost, in percent; min_margin_twd: the least margin in TWD whatever the
    percentage gives; step_twd: prices are rounded up to a multiple of this (1, 5, 10)."""

    margin_pct: Decimal = Decimal("8")
    min_margin_twd: int = 2
    step_twd: int = 1

    @classmethod
    def parse(cls, margin_pct: str, min_margin_twd: str, step_twd: str) -> PricingRule:
        """A rule from what a person typed; PricingError saying what is wrong otherwise."""
        try:
            pct = Decimal(str(margin_pct).strip())
        except ArithmeticError:
            raise PricingError(f"the margin {margin_pct!r} is not a number: write it like 8 or 7.5") from None
        if not pct.is_finite() or not Decimal(0) <= pct <= Decimal(200):
            raise PricingError("the margin is a percentage between 0 and 200")
        minimum, step = str(min_margin_twd).strip() or "0", str(step_twd).strip() or "1"
        if not minimum.isdigit() or not step.isdigit() or int(step) < 1 or int(step) > 1000:
            raise PricingError(
                "the minimum margin is a whole TWD amount and the step a whole TWD from 1 to 1000"
            )
        return cls(pct, int(minimum), int(step))

    def price_for(self, cost_twd: Decimal) -> int:
        """The retail price for a cost: cost plus the larger of the two margins, rounded up to the step."""
        margin = max(cost_twd * self.margin_pct / 100, Decimal(self.min_margin_twd))
        steps = ((cost_twd + margin) / self.step_twd).to_integral_value(rounding=ROUND_CEILING)
        return max(int(steps) * self.step_twd, self.step_twd)

    def as_detail(self) -> dict[str, str | int]:
        return {
            "margin_pct": str(self.margin_pct),
            "min_margin_twd": self.min_margin_twd,
            "step_twd": self.step_twd,
        }


@dataclass(frozen=True)
class PriceProposal:
    product_id: int
    code: str
    name: str
    active: bool
    current_twd: int
    cost_twd: Decimal | None  # cheapest usable cost at the rate; None: no usable offer or no rate
    proposed_twd: int | None

    @property
    def change_twd(self) -> int:
        return 0 if self.proposed_twd is None else self.proposed_twd - self.current_twd

    @property
    def below_cost(self) -> bool:
        """Selling now loses money: the current price is under the cheapest usable cost."""
        return self.cost_twd is not None and Decimal(self.current_twd) < self.cost_twd


def preview(session: Session, rule: PricingRule) -> tuple[Decimal | None, list[PriceProposal]]:
    """The current rate and every product's price under `rule` (nothing is written)."""
    latest = latest_rate(session, PAIR)
    rate = latest.rate if latest else None
    # a bill's price is its inquiry's (esa_domain.ordering.bills): no rule prices it, none takes it off sale
    bills = set(
        session.exec(
            select(Product.id)
            .join(ProductCategory, col(ProductCategory.id) == col(Product.category_id))
            .where(ProductCategory.kind == "postpaid")
        ).all()
    )
    out = []
    for p in product_costs(session, rate=rate):
        if p.product_id in bills:
            continue
        cost = p.best_cost_twd
        out.append(
            PriceProposal(
                p.product_id, p.code, p.name, p.active, p.price_twd, cost,
                rule.price_for(cost) if cost is not None else None,
            )
        )  # fmt: skip
    return rate, out


def apply(
    session: Session,
    actor: Operator | None,
    rule: PricingRule,
    product_ids: list[int] | None = None,
    *,
    why: str | None = None,
) -> int:
    """Set the previewed prices (of `product_ids`, default all that have a cost); audited with the rule and the
    rate. `actor` None: the scheduler following the rate with the rule an admin applied last (`why` says so).
    Returns how many prices changed."""
    if actor is not None:
        require_role(actor, "admin")
    rate, proposals = preview(session, rule)
    if rate is None:
        raise PricingError("there is no FX rate yet: set one on the FX page before pricing")
    wanted = None if product_ids is None else set(product_ids)
    changes = {}
    for p in proposals:
        if p.proposed_twd is None or p.change_twd == 0 or (wanted is not None and p.product_id not in wanted):
            continue
        session.execute(
            update(Product)
            .where(col(Product.id) == p.product_id)
            .values(price_twd=p.proposed_twd, updated_at=datetime.now(UTC))
        )
        changes[p.code] = [p.current_twd, p.proposed_twd]
    record_action(
        session, actor.id if actor else None, "reprice", subject="pricing:rule", reason=why,
        detail={"rule": rule.as_detail(), "rate": str(rate), "changes": changes},
    )  # fmt: skip
    session.flush()
    return len(changes)


def stop_below_cost(session: Session, actor: Operator | None) -> list[str]:
    """Take off sale every product on sale whose price is under its cheapest usable cost at the current rate
    (an order for it could only lose money); audited. Returns the product codes stopped."""
    if actor is not None:
        require_role(actor, "admin")
    _, proposals = preview(session, PricingRule())
    stopped = [p for p in proposals if p.active and p.below_cost]
    for p in stopped:
        session.execute(
            update(Product)
            .where(col(Product.id) == p.product_id, col(Product.active))
            .values(active=False, disabled_reason=BELOW_COST_REASON, updated_at=datetime.now(UTC))
        )
    if stopped:
        record_action(
            session, actor.id if actor else None, "stop_below_cost", subject="pricing:below_cost",
            detail={p.code: {"price_twd": p.current_twd, "cost_twd": str(p.cost_twd)} for p in stopped},
        )  # fmt: skip
    session.flush()
    return [p.code for p in stopped]


@dataclass(frozen=True)
class LastReprice:
    rule: PricingRule
    rate: Decimal
    at: datetime


def last_reprice(session: Session) -> LastReprice | None:
    """The rule and rate of the last bulk reprice, from its audit row; None if prices were never set by a rule."""
    row = session.exec(
        select(OperatorAction)
        .where(OperatorAction.action == "reprice")
        .order_by(col(OperatorAction.id).desc())
    ).first()
    if row is None or not row.detail:
        return None
    r = row.detail["rule"]
    rule = PricingRule(Decimal(r["margin_pct"]), int(r["min_margin_twd"]), int(r["step_twd"]))
    return LastReprice(rule, Decimal(row.detail["rate"]), row.created_at)


def fx_move_pct(session: Session) -> Decimal | None:
    """How far (in percent, signed) the rate has moved since the last reprice; None if there is nothing to compare."""
    last, latest = last_reprice(session), latest_rate(session, PAIR)
    if last is None or latest is None or not last.rate:
        return None
    return ((latest.rate - last.rate) * 100 / last.rate).quantize(Decimal("0.01"))


def follow_fx(session: Session, threshold_pct: Decimal) -> tuple[int, list[str]]:
    """After an FX refresh: when the rate has moved at least `threshold_pct` (either way) since the last reprice,
    reprice everything with that reprice's rule (0: never); then take off sale whatever now sells below cost.
    Returns (prices changed, product codes stopped)."""
    changed = 0
    moved, last = fx_move_pct(session), last_reprice(session)
    if threshold_pct > 0 and moved is not None and last is not None and abs(moved) >= threshold_pct:
        changed = apply(session, None, last.rule, why=f"the rate moved {moved:+}% since the last reprice")
    return changed, stop_below_cost(session, None)
