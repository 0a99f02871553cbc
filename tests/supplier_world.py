"""A running world for fulfillment tests: our API and all five supplier simulators on real ports.

The API receives the simulators' callbacks; `drain()` plays the worker, running the fulfillment messages the
engine wrote to the outbox (delays fast-forwarded), so a test can follow an item to its end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from esa_api import create_app
from esa_domain.adapters.suppliers.registry import build_adapters, supplier_settings
from esa_domain.fulfillment.engine import FulfillmentContext, FulfillmentPolicy, advance_item, check_attempt
from esa_domain.fulfillment.routing import BreakerPolicy
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import FxRate, Product, ProductCategory, Supplier, SupplierOffer
from sandbox import billfazz, ecpay_invoice, iak, lapakgaming, line, pulsaif, redision
from sandbox._common import SimulatorConfig
from sandbox.app import BILLFAZZ, IAK, LAPAK, PULSAIF, REDISION, demo_env
from sandbox.ecpay import SandboxConfig as EcpaySandboxConfig
from sandbox.ecpay import create_ecpay_sandbox
from tests.servers import Servers

SECRET = "pulsaif-callback-secret-for-tests"
SIM_CONFIG = dict(slow_seconds=2.5, slow_answer_seconds=0.3, callback_delay=0.3)
# the offers: TSEL10 at four pulsa suppliers, ML86 at three game suppliers (IDR costs; overridable per test)
OFFERS = {
    "TSEL10": {
        "pulsaif": ("S10", 10150),
        "iak": ("htelkomsel10000", 10450),
        "billfazz": ("TSEL10", 10550),
        "redision": ("TSEL10", 10650),
    },
    "ML86": {
        "lapakgaming": ("ML78_8-S2", 20900),
        "billfazz": ("ML86", 21800),
        "iak": ("mobilelegend86", 22500),
    },
}


@dataclass
class World:
    api_url: str
    sims: dict[str, str]
    settings: Settings
    servers: Servers = field(repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)  # what a worker process needs
    ecpay_url: str = ""
    line_url: str = ""
    invoice_url: str = (
        ""  # ECPay's e-invoice API (sandbox/ecpay_invoice.py): every delivered order is invoiced
    )

    def context(self, engine: Engine, policy: FulfillmentPolicy | None = None) -> FulfillmentContext:
        runtime = Runtime(self.settings, engine, None)
        return FulfillmentContext(runtime.uow, build_adapters(self.settings), self.api_url, policy or FAST)

    def delivered(self) -> list[dict]:
        """Every purchase the simulators delivered, from their own ledgers."""
        out = []
        for code, url in self.sims.items():
            for txn in httpx.get(f"{url}/_sandbox/ledger").json()["transactions"]:
                if txn.get("delivered"):
                    out.append({**txn, "supplier": code})
        return out

    def reset(self) -> None:
        for url in self.sims.values():
            httpx.post(f"{url}/_sandbox/reset")


FAST = FulfillmentPolicy(
    check_backoff=(timedelta(milliseconds=100),),
    deadline=timedelta(seconds=60),
    not_found_grace=timedelta(seconds=0),
    breaker=BreakerPolicy(threshold=50),
)


def start_world(engine: Engine, **sim_config: float) -> World:
    servers = Servers()
    app = create_app()
    api_url = servers.start(app)
    knobs = {**SIM_CONFIG, **sim_config}
    cfg = SimulatorConfig(**knobs)
    sims = {
        "iak": servers.start(iak.create_app(**IAK, callback_url=f"{api_url}/callbacks/iak", config=cfg)),
        "lapakgaming": servers.start(lapakgaming.create_app(**LAPAK, config=SimulatorConfig(**knobs))),
        "billfazz": servers.start(billfazz.create_app(**BILLFAZZ, config=SimulatorConfig(**knobs))),
        "redision": servers.start(
            redision.create_app(
                **REDISION, callback_url=f"{api_url}/callbacks/redision", config=SimulatorConfig(**knobs)
            )
        ),
        "pulsaif": servers.start(
            pulsaif.create_app(
                **PULSAIF,
                report_url=f"{api_url}/callbacks/pulsaif/{SECRET}",
                config=SimulatorConfig(**knobs),
            )
        ),
    }
    ecpay_url = servers.start(create_ecpay_sandbox(config=EcpaySandboxConfig(retry_intervals=(0.2,))))
    line_url = servers.start(line.create_app())
    invoice_url = servers.start(ecpay_invoice.create_app())
    env = demo_env(ecpay_url, pulsaif_callback_secret=SECRET)
    env["LINE_API_BASE_URL"] = line_url
    env["ECPAY_INVOICE_BASE_URL"] = invoice_url
    env.update(
        {
            "IAK_PREPAID_URL": sims["iak"],
            "IAK_POSTPAID_URL": sims["iak"],
            "LAPAKGAMING_BASE_URL": sims["lapakgaming"],
            "BILLFAZZ_BASE_URL": sims["billfazz"],
            "REDISION_BASE_URL": sims["redision"],
            "PULSAIF_BASE_URL": sims["pulsaif"],
            "SUPPLIER_READ_TIMEOUT_S": "1.2",
            "ESA_PUBLIC_URL": api_url,
        }
    )
    settings = Settings(
        **{k.lower(): v for k, v in env.items() if not k.startswith("ESA_")},
        suppliers=supplier_settings(env),
        ESA_PUBLIC_URL=api_url,
        database_url="unused",
        redis_url="unused",
    )
    app.state.runtime = Runtime(settings, engine, None)
    return World(api_url, sims, settings, servers, env, ecpay_url, line_url, invoice_url)


def catalog(engine: Engine, offers: dict | None = None) -> None:
    offers = offers or OFFERS
    with Session(engine) as s:
        cats = {
            "pulsa": ProductCategory(code="pulsa", name="Pulsa"),
            "games": ProductCategory(code="games", name="Games", is_game=True),
        }
        s.add_all(cats.values())
        sups = {
            c: Supplier(code=c, name=c) for c in ("iak", "lapakgaming", "billfazz", "redision", "pulsaif")
        }
        s.add_all(sups.values())
        s.flush()
        products = {
            "TSEL10": Product(
                code="TSEL10",
                category_id=cats["pulsa"].id,
                name="Telkomsel 10.000",
                price_twd=25,
                target_kind="phone",
            ),
            "ML86": Product(
                code="ML86",
                category_id=cats["games"].id,
                name="ML 86 diamonds",
                price_twd=55,
                target_kind="game_id_zone",
            ),
        }
        s.add_all(products.values())
        s.flush()
        for code, by_supplier in offers.items():
            for sup, (sku, cost) in by_supplier.items():
                s.add(
                    SupplierOffer(
                        supplier_id=sups[sup].id,
                        product_id=products[code].id,
                        supplier_sku=sku,
                        cost_idr=cost,
                    )
                )
        s.add(FxRate(pair="IDR/TWD", rate=Decimal("0.002"), source="test"))
        s.commit()


def drain(ctx: FulfillmentContext, engine: Engine, item_id: int, timeout: float = 20.0) -> str:
    """Play the worker until the item is final (or in review): run its queued fulfillment messages at once."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "UPDATE outbox SET dispatched_at = now() WHERE id IN (SELECT id FROM outbox WHERE dispatched_at IS NULL "
                    "AND topic IN ('fulfill_item', 'check_attempt') ORDER BY id FOR UPDATE SKIP LOCKED) "
                    "RETURNING topic, payload"
                )
            ).all()
        for topic, payload in rows:
            if topic == "fulfill_item":
                advance_item(ctx, payload["item_id"])
            else:
                check_attempt(ctx, payload["attempt_id"])
        with Session(engine) as s:
            from esa_domain.models import PaymentItem

            status = s.exec(select(PaymentItem.status).where(PaymentItem.id == item_id)).one()
        if status in ("SUCCESS", "FAILED", "NEEDS_REVIEW") and not rows:
            return status
        time.sleep(0.05)
    return status


def pay(engine: Engine, payment_id: int) -> None:
    """Accept the payment the way ECPay's notification does (PAID + fulfill_item rows in one transaction)."""
    from esa_domain.payments.accept import EcpayConfig, PaymentEvidence, apply_evidence

    with UnitOfWork(engine) as uow:
        from esa_domain.models import Payment

        p = uow.session.get(Payment, payment_id)
        ev = PaymentEvidence(
            p.merchant_trade_no, "T1", True, False, p.amount_twd, "Credit_CreditCard", "notification"
        )
        apply_evidence(
            uow.session, ev, EcpayConfig("3002607", "k", "i", "http://x", "http://x"), now=p.created_at
        )
        uow.commit()
