"""The five supplier simulators and LINE's in one process, zero delays, a bottomless balance (uvicorn --factory).

LINE is there because every order now sends its customer messages (paid, delivered): without it each push
would be refused (404) and the run would measure a path no deployment takes. ECPay's e-invoice API likewise: each
delivered order's invoice is issued there (sandbox.app.demo_env points ECPAY_INVOICE_BASE_URL at /einvoice)."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox import billfazz, ecpay_invoice, iak, lapakgaming, line, pulsaif, redision
from sandbox._common import SimulatorConfig
from sandbox.app import BILLFAZZ, IAK, LAPAK, PULSAIF, REDISION


def _config() -> SimulatorConfig:
    # answer at once, call back at once (several callbacks in flight, as a busy supplier sends them), never
    # run out of money during a long run
    return SimulatorConfig(
        balance=10**15, slow_seconds=0.0, slow_answer_seconds=0.0, callback_delay=0.0, scheduler_threads=8
    )


def app() -> Starlette:
    """The simulators; callbacks go to ESA at ESA_PUBLIC_URL."""
    base = os.environ["ESA_PUBLIC_URL"].rstrip("/")
    secret = os.environ["PULSAIF_CALLBACK_SECRET"]
    return Starlette(
        routes=[
            Mount("/iak", iak.create_app(**IAK, callback_url=f"{base}/callbacks/iak", config=_config())),
            Mount("/lapakgaming", lapakgaming.create_app(**LAPAK, config=_config())),
            Mount("/billfazz", billfazz.create_app(**BILLFAZZ, config=_config())),
            Mount(
                "/redision",
                redision.create_app(**REDISION, callback_url=f"{base}/callbacks/redision", config=_config()),
            ),
            Mount("/line", line.create_app()),
            # ECPay's e-invoice API (issue 19): every delivered order is invoiced, so the bench measures it
            Mount("/einvoice", ecpay_invoice.create_app()),
            Mount(
                "/pulsaif",
                pulsaif.create_app(
                    **PULSAIF, report_url=f"{base}/callbacks/pulsaif/{secret}", config=_config()
                ),
            ),
        ]
    )
