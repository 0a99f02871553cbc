"""Pricing (admins): a margin rule turned into every product's price at the current rate, previewed before it is
applied; how far the rate has moved since prices were last set; products selling below cost taken off sale."""

from __future__ import annotations

from decimal import Decimal

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import field, form_row, stat, table
from esa_admin.deps import unit_of_work
from esa_domain.catalog import pricing
from esa_domain.core.errors import DomainError
from esa_domain.infra.db import default_engine
from esa_domain.infra.settings import get_settings
from esa_domain.models import Operator


class PricingState(AuthState):
    margin_pct: str = "8"
    min_margin_twd: str = "2"
    step_twd: str = "1"
    rate: str = "—"
    last: str = "never"
    moved: str = "—"
    follows: str = ""
    rows: list[dict[str, str]] = []
    changes: int = 0
    below_cost: int = 0
    error: str = ""

    def _rule(self) -> pricing.PricingRule:
        return pricing.PricingRule.parse(self.margin_pct, self.min_margin_twd, self.step_twd)

    def _preview(self) -> None:
        self.error = ""
        try:
            rule = self._rule()
        except DomainError as exc:
            self.error, self.rows = exc.message, []
            return
        with Session(default_engine()) as s:
            rate, proposals = pricing.preview(s, rule)
            last = pricing.last_reprice(s)
            moved = pricing.fx_move_pct(s)
        self.rate = "no rate yet" if rate is None else f"{rate.normalize()} TWD per IDR"
        self.last = "never" if last is None else f"{fmt.when(last.at)} at {last.rate.normalize()}"
        self.moved = "—" if moved is None else f"{moved:+}%"
        threshold = get_settings().reprice_fx_threshold_pct
        self.follows = (
            f"after a move of ±{threshold}% the scheduler reprices with the last rule applied"
            if threshold > 0
            else "set by hand only (ESA_REPRICE_FX_THRESHOLD_PCT is 0)"
        )
        self.changes = sum(1 for p in proposals if p.proposed_twd is not None and p.change_twd != 0)
        self.below_cost = sum(1 for p in proposals if p.active and p.below_cost)
        self.rows = [
            {
                "code": p.code,
                "name": p.name,
                "on_sale": "yes" if p.active else "",
                "cost": fmt.twd(p.cost_twd.quantize(Decimal("0.01")) if p.cost_twd is not None else None),
                "current": fmt.twd(p.current_twd),
                "proposed": fmt.twd(p.proposed_twd) if p.proposed_twd is not None else "no usable SKU",
                "change": "" if not p.change_twd else f"{p.change_twd:+}",
                "below": "yes" if p.below_cost else "",
            }
            for p in proposals
        ]

    @rx.event
    def load(self):
        if self.authorize("admin") is None:
            return self.denied()
        with Session(default_engine()) as s:
            last = pricing.last_reprice(s)
        if last is not None:  # the rule last applied is offered again
            self.margin_pct = str(last.rule.margin_pct)
            self.min_margin_twd, self.step_twd = str(last.rule.min_margin_twd), str(last.rule.step_twd)
        self._preview()
        return None

    @rx.event
    def preview(self, form: dict):
        if self.authorize("admin") is None:
            return self.denied()
        self.margin_pct = str(form.get("margin_pct", "")).strip()
        self.min_margin_twd = str(form.get("min_margin_twd", "")).strip()
        self.step_twd = str(form.get("step_twd", "")).strip()
        self._preview()
        return None

    def _act(self, change, done) -> None:
        actor = self.authorize("admin")
        if actor is None:
            return
        try:
            with unit_of_work() as uow:
                result = change(uow.session, uow.session.get(Operator, actor.id))
                uow.commit()
        except (DomainError, PermissionError) as exc:
            self.say(str(exc), "error")
            return
        self.say(done(result), "ok")
        self._preview()

    @rx.event
    def apply(self):
        try:
            rule = self._rule()
        except DomainError as exc:
            self.error = exc.message
            return None
        self._act(lambda s, me: pricing.apply(s, me, rule), lambda n: f"{n} price(s) set by the rule.")
        return None if self.logged_in else self.denied()

    @rx.event
    def stop_below_cost(self):
        self._act(
            lambda s, me: pricing.stop_below_cost(s, me),
            lambda codes: (
                f"Taken off sale: {', '.join(codes)}." if codes else "Nothing on sale is below cost."
            ),
        )
        return None if self.logged_in else self.denied()


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["code"], weight="bold"), rx.text(r["name"], size="1", color_scheme="gray")),
        rx.table.cell(rx.cond(r["on_sale"] == "yes", "on sale", "off sale")),
        rx.table.cell(r["cost"]),
        rx.table.cell(
            rx.cond(
                r["below"] == "yes", rx.badge(r["current"], " below cost", color_scheme="red"), r["current"]
            )
        ),
        rx.table.cell(rx.text(r["proposed"], weight="bold")),
        rx.table.cell(r["change"]),
    )


def _rule_field(name: str, width: str, id: str, label: str) -> rx.Component:
    value = getattr(PricingState, name)
    return field(name, None, value, width, id, key=value, aria_label=label)


@template(routes.PRICING, "Pricing", on_load=[PricingState.load])
def pricing_page() -> rx.Component:
    return rx.cond(
        AuthState.is_admin,
        rx.vstack(
            rx.flex(
                stat("Current rate", PricingState.rate),
                stat("Prices last set by the rule", PricingState.last),
                stat("Rate moved since", PricingState.moved, PricingState.follows, id="fx-moved"),
                gap="12px",
                wrap="wrap",
            ),
            rx.form(
                form_row(
                    rx.text("Price = cheapest usable cost +", size="2"),
                    _rule_field("margin_pct", "70px", "rule-pct", "Margin percent"),
                    rx.text("% (at least NT$", size="2"),
                    _rule_field("min_margin_twd", "60px", "rule-min", "Minimum margin TWD"),
                    rx.text("), rounded up to NT$", size="2"),
                    _rule_field("step_twd", "60px", "rule-step", "Rounding step TWD"),
                    rx.button("Preview", type="submit", variant="soft", id="rule-preview"),
                ),
                on_submit=PricingState.preview,
                reset_on_submit=False,
            ),
            rx.cond(
                PricingState.error != "", rx.callout(PricingState.error, color_scheme="red", id="rule-error")
            ),
            rx.flex(
                rx.button(
                    "Apply: set ",
                    PricingState.changes,
                    " price(s)",
                    on_click=PricingState.apply,
                    disabled=PricingState.changes == 0,
                    id="rule-apply",
                ),
                rx.button(
                    "Take off sale the ",
                    PricingState.below_cost,
                    " product(s) below cost",
                    on_click=PricingState.stop_below_cost,
                    color_scheme="red",
                    variant="soft",
                    disabled=PricingState.below_cost == 0,
                    id="stop-below-cost",
                ),
                gap="8px",
                wrap="wrap",
            ),
            table(
                ["Product", "Sale", "Cheapest cost", "Price now", "Price by the rule", "Change"],
                PricingState.rows,
                _row,
                id="pricing-table",
            ),
            width="100%",
            spacing="3",
        ),
        rx.callout("Only admins set prices.", color_scheme="amber"),
    )
