"""The one composition root: what every entry point (API, dashboard, workers, CLI) needs, built from one Settings.

`Runtime(settings, engine, publisher)` composes, each once and on first use: the ECPay config, the fulfillment
context (supplier adapters and its policy), the reconcile policy, the order policy and the customer API's
config. Every policy's knobs are `Settings` fields; the functions below are the only mapping from them.
`process_runtime()` is the process's own, built from the environment; tests construct a `Runtime` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from esa_domain.fulfillment.engine import FulfillmentContext, FulfillmentPolicy
from esa_domain.fulfillment.routing import BreakerPolicy
from esa_domain.infra.db import UnitOfWork, default_engine
from esa_domain.infra.outbox import Publisher
from esa_domain.infra.settings import Settings, get_settings
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.ordering.orders import OrderPolicy
from esa_domain.payments.accept import EcpayConfig

if TYPE_CHECKING:
    from esa_api.customer.config import CustomerApiConfig


def build_fulfillment_policy(settings: Settings) -> FulfillmentPolicy:
    return FulfillmentPolicy(
        check_backoff=tuple(timedelta(seconds=s) for s in settings.check_backoff_seconds),
        deadline=timedelta(minutes=settings.fulfillment_deadline_minutes),
        not_found_grace=timedelta(seconds=settings.not_found_grace_seconds),
        breaker=BreakerPolicy(
            threshold=settings.breaker_threshold,
            cooldown=timedelta(seconds=settings.breaker_cooldown_seconds),
            wait_alert_after=timedelta(minutes=settings.supplier_wait_alert_minutes),
        ),
        margin_floor_twd=settings.margin_floor_twd,
    )


def build_reconcile_policy(settings: Settings) -> ReconcilePolicy:
    return ReconcilePolicy(
        every=timedelta(minutes=settings.reconcile_every_minutes),
        time_limit=timedelta(seconds=settings.reconcile_time_limit_seconds),
        abandon_after=timedelta(minutes=settings.reconcile_abandon_after_minutes),
        query_after=timedelta(minutes=settings.reconcile_query_after_minutes),
        redispatch_after=timedelta(seconds=settings.reconcile_redispatch_after_seconds),
        stall_after=timedelta(seconds=settings.reconcile_stall_after_seconds),
        overdue_check=timedelta(seconds=settings.reconcile_overdue_check_seconds),
        alert_paid_after=timedelta(minutes=settings.stuck_paid_after_minutes),
        alert_pending_after=timedelta(minutes=settings.stuck_pending_after_minutes),
        alert_refund_after=timedelta(minutes=settings.stuck_refund_after_minutes),
        alert_review_after=timedelta(minutes=settings.stuck_review_after_minutes),
        refund_resume_after=timedelta(seconds=settings.refund_resume_after_seconds),
        batch=settings.reconcile_batch,
    )


def build_order_policy(settings: Settings) -> OrderPolicy:
    return OrderPolicy(
        payment_window=timedelta(minutes=settings.payment_window_minutes),
        fx_max_age=timedelta(minutes=settings.fx_max_age_minutes),
        max_items=settings.max_items_per_order,
        check_after_window=timedelta(seconds=settings.payment_check_after_window_seconds),
    )


def build_publisher(settings: Settings) -> Publisher | None:
    """The broker publisher when REDIS_URL is set; otherwise None and the outbox sweeper sends the rows."""
    if not settings.redis_url:
        return None
    from workers.publisher import DramatiqPublisher, make_broker

    return DramatiqPublisher(make_broker(settings.redis_url))


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    publisher: Publisher | None

    @classmethod
    def from_settings(cls, settings: Settings, publisher: Publisher | None = None) -> Runtime:
        """The runtime on the settings' database; `publisher` defaults to the broker at REDIS_URL (if any)."""
        return cls(settings, default_engine(), publisher or build_publisher(settings))

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.publisher)

    @cached_property
    def ecpay(self) -> EcpayConfig:
        return EcpayConfig.from_settings(self.settings)

    @cached_property
    def invoice_client(self):  # type: ignore[no-untyped-def]
        """ECPay's B2C e-invoice client (issue 19), one per process (its connection is kept)."""
        from esa_domain.invoicing.carrier import invoice_client_from_settings

        return invoice_client_from_settings(self.settings)

    @cached_property
    def fulfillment(self) -> FulfillmentContext:
        from esa_domain.adapters.suppliers.measured import measured
        from esa_domain.adapters.suppliers.registry import build_adapters

        return FulfillmentContext(
            self.uow,
            measured(build_adapters(self.settings)),  # every call counted, timed, named in the logs
            self.settings.public_url,
            build_fulfillment_policy(self.settings),
        )

    @cached_property
    def reconcile_policy(self) -> ReconcilePolicy:
        return build_reconcile_policy(self.settings)

    @cached_property
    def order_policy(self) -> OrderPolicy:
        return build_order_policy(self.settings)

    @cached_property
    def customer_api(self) -> CustomerApiConfig:
        # the root knows every part; imported here so loading the domain never loads the API
        from esa_api.customer.config import CustomerApiConfig

        return CustomerApiConfig.from_settings(self.settings, self.order_policy)


@lru_cache(maxsize=1)
def process_runtime() -> Runtime:
    """This process's runtime, built from the environment on first use (web app, dashboard, CLI)."""
    return Runtime.from_settings(get_settings())
