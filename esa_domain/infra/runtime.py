"""What every entry point (API, dashboard, workers, CLI) needs at run time, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine

from esa_domain.fulfillment.engine import FulfillmentContext
from esa_domain.infra.db import UnitOfWork, default_engine
from esa_domain.infra.outbox import Publisher
from esa_domain.infra.settings import Settings, get_settings
from esa_domain.payments.accept import EcpayConfig


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    publisher: Publisher | None

    @classmethod
    def from_settings(cls, publisher: Publisher | None, settings: Settings | None = None) -> Runtime:
        return cls(settings or get_settings(), default_engine(), publisher)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.publisher)

    @cached_property
    def ecpay(self) -> EcpayConfig:
        return EcpayConfig.from_settings(self.settings)

    @cached_property
    def fulfillment(self) -> FulfillmentContext:
        from esa_domain.adapters.suppliers.registry import build_adapters

        return FulfillmentContext(self.uow, build_adapters(self.settings), self.settings.public_url)
