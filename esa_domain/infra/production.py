"""What production refuses to start with: the demo's defaults (ECPay's public stage keys, simulators, demo
operators) and secrets too short to trust.

Every entry point (web app, dashboard, worker, scheduler, `esa up`) calls `refuse_unsafe_production` as it starts;
the demo (ESA_ENV=demo, the default) is never checked: it runs on exactly these defaults on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from esa_domain.adapters.suppliers.spec import SupplierSettings
from esa_domain.infra.settings import Settings

# ECPay's published stage merchant (developers.ecpay.com.tw): anyone can sign with these keys
STAGE_MERCHANT_ID = "3002607"
STAGE_HASH_KEY = "pwFHCqoQZGmho4w6"
STAGE_HASH_IV = "EkRm7iFT261dpevs"
STAGE_HOST = "payment-stage.ecpay.com.tw"
MIN_TOKEN_SECRET_BYTES = 32
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 (matched, never bound)


class UnsafeProduction(RuntimeError):
    """Production was asked to start on unsafe settings; the message lists each problem and its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"ESA_ENV=production refuses to start: {len(problems)} unsafe setting(s).\n{lines}\n"
            "Fix each one (or run the demo with ESA_ENV=demo) and start again."
        )


def is_production(settings: Settings) -> bool:
    return settings.environment.strip().lower() == "production"


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url.strip()).hostname or "").lower()
    return host in _LOOPBACK or host.startswith("127.") or host.endswith(".localhost")


def unsafe_settings(settings: Settings, suppliers: Mapping[str, SupplierSettings] | None = None) -> list[str]:
    """Every setting production must not run with, each as '<VARIABLE> ...: <what to do>'.

    `suppliers`: each supplier's settings by code; None reads them as the process would (`settings.suppliers`,
    else the environment).
    """
    problems: list[str] = []
    merchant = settings.ecpay_merchant_id.strip()
    if not merchant:
        problems.append("ECPAY_MERCHANT_ID is missing: set your production MerchantID")
    elif merchant == STAGE_MERCHANT_ID:
        problems.append(
            f"ECPAY_MERCHANT_ID is {STAGE_MERCHANT_ID}, ECPay's public stage merchant: set your production MerchantID"
        )
    for variable, value, stage in (
        ("ECPAY_HASH_KEY", settings.ecpay_hash_key.get_secret_value(), STAGE_HASH_KEY),
        ("ECPAY_HASH_IV", settings.ecpay_hash_iv.get_secret_value(), STAGE_HASH_IV),
    ):
        if not value.strip():
            problems.append(f"{variable} is missing: set it from ECPay's merchant back office")
        elif value.strip() == stage:
            problems.append(
                f"{variable} is ECPay's published stage value (anyone can sign a 'paid' notification with it): "
                "set your production value from ECPay's merchant back office"
            )
    base = settings.ecpay_base_url
    if (urlsplit(base.strip()).hostname or "").lower() == STAGE_HOST or _is_loopback(base):
        problems.append(
            f"ECPAY_BASE_URL is {base!r} (stage or a simulator): set https://payment.ecpay.com.tw"
        )
    if settings.ecpay_allow_simulated_paid:
        problems.append("ECPAY_ALLOW_SIMULATED_PAID is on: remove it (a simulated payment moves no money)")
    secret = settings.customer_token_secret.get_secret_value()
    if len(secret.encode()) < MIN_TOKEN_SECRET_BYTES:
        problems.append(
            f"CUSTOMER_TOKEN_SECRET is {'missing' if not secret else f'{len(secret.encode())} bytes'}: set "
            f"{MIN_TOKEN_SECRET_BYTES}+ random bytes (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`)"
        )
    problems += _unsafe_delivery_key(settings)
    problems += _unsafe_invoice_service(settings)
    for variable, url in (
        ("ESA_PUBLIC_URL", settings.public_url),
        ("LINE_API_BASE_URL", settings.line_api_base_url),
        ("LINE_LOGIN_BASE_URL", settings.line_login_base_url),
        ("LINE_LOGIN_PAGE_URL", settings.line_login_page_url),
        ("FX_SOURCE_URL", settings.fx_source_url),
    ):
        if url and _is_loopback(url):
            problems.append(
                f"{variable} is {url!r}, a loopback address (the demo's simulators): set the production URL"
            )
    problems += _unsafe_suppliers(settings, suppliers)
    return problems


def _unsafe_invoice_service(settings: Settings) -> list[str]:
    """ECPay's B2C e-invoice service (issue 19): never its published stage merchant or keys, stage or a simulator
    (an invoice there is no invoice: the customer holds nothing the tax office knows)."""
    from esa_domain.adapters.ecpay_invoice.client import (
        STAGE_BASE_URL,
        STAGE_HASH_IV,
        STAGE_HASH_KEY,
        STAGE_MERCHANT_ID,
    )

    problems = []
    merchant = settings.ecpay_invoice_merchant_id.strip()
    if not merchant or merchant == STAGE_MERCHANT_ID:
        problems.append(
            f"ECPAY_INVOICE_MERCHANT_ID is {merchant or 'missing'} (ECPay's public e-invoice stage merchant is "
            f"{STAGE_MERCHANT_ID}): set your production e-invoice MerchantID"
        )
    key, iv = settings.ecpay_invoice_hash_key, settings.ecpay_invoice_hash_iv
    for variable, value, stage in (
        ("ECPAY_INVOICE_HASH_KEY", key.get_secret_value().strip(), STAGE_HASH_KEY),
        ("ECPAY_INVOICE_HASH_IV", iv.get_secret_value().strip(), STAGE_HASH_IV),
    ):
        if not value or value == stage:
            problems.append(
                f"{variable} is {'missing' if not value else 'ECPay’s published e-invoice stage value'}: set your "
                "production value from ECPay's e-invoice back office"
            )
    base = settings.ecpay_invoice_base_url.strip()
    stage_host = urlsplit(STAGE_BASE_URL).hostname
    if (urlsplit(base).hostname or "").lower() == stage_host or _is_loopback(base):
        problems.append(
            f"ECPAY_INVOICE_BASE_URL is {base!r} (stage or a simulator): set https://einvoice.ecpay.com.tw"
        )
    return problems


def _unsafe_delivery_key(settings: Settings) -> list[str]:
    """PINs and voucher codes are sealed with ESA_DELIVERY_KEY: never the demo's published key, always 32 bytes."""
    from esa_domain.fulfillment.delivery import DEMO_DELIVERY_KEY, DeliveryKeyError, parse_key

    value = settings.delivery_key.get_secret_value().strip()
    fix = "set 32 random bytes in base64 (`python -c 'import base64,secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())'`)"
    if not value:
        return [f"ESA_DELIVERY_KEY is missing: {fix}"]
    if value == DEMO_DELIVERY_KEY:
        return [f"ESA_DELIVERY_KEY is the demo's published key (anyone could read stored PINs): {fix}"]
    try:
        parse_key(value)
    except DeliveryKeyError as exc:
        return [f"{exc}: {fix}"]
    return []


def _unsafe_suppliers(settings: Settings, given: Mapping[str, SupplierSettings] | None) -> list[str]:
    if given is None:
        from esa_domain.adapters.suppliers.registry import supplier_settings

        given = settings.suppliers if settings.suppliers is not None else supplier_settings()
    problems = []
    for code, config in sorted(given.items()):
        if not config.configured:
            continue  # not registered, so never called
        prefix = str(config.model_config.get("env_prefix", f"{code}_")).upper()
        for name, field in type(config).model_fields.items():
            value = getattr(config, name)
            if not name.endswith("url") or not isinstance(value, str):
                continue
            if _is_loopback(value):
                problems.append(
                    f"{prefix}{name.upper()} is {value!r}, a local simulator address: set {code}'s production URL"
                )
            elif field.default and value.rstrip("/") == str(field.default).rstrip("/"):
                problems.append(
                    f"{prefix}{name.upper()} is {code}'s sandbox/development address {value!r}: "
                    f"set {code}'s production URL"
                )
    return problems


def unsafe_database(engine: Engine) -> list[str]:
    """Problems in the data: the demo's operators (with their published passwords) still able to log in."""
    from esa_domain.models import Operator
    from sandbox.demo_data import DEMO_OPERATOR, DEMO_VIEWER

    names = [DEMO_OPERATOR[0], DEMO_VIEWER[0]]
    try:
        with Session(engine) as session:
            found = sorted(
                session.execute(
                    select(Operator.username).where(Operator.username.in_(names), Operator.active.is_(True))
                ).scalars()
            )
    except SQLAlchemyError as exc:
        if "operators" in str(exc) and "does not exist" in str(exc):
            return []  # not migrated yet: no operators at all
        raise
    return [
        f"the demo operator {name!r} (published password) is in the database: deactivate or delete it "
        "in the dashboard, after creating your own admin with `esa operator create <name> --role admin`"
        for name in found
    ]


def refuse_unsafe_production(settings: Settings, engine: Engine | None = None) -> None:
    """Raise UnsafeProduction when `settings` say production and anything above is found; else nothing.

    `engine`: the database to look for demo operators in; None opens one on DATABASE_URL for the check (and
    skips the database when none is configured yet, as before `esa up` starts its embedded server).
    """
    if not is_production(settings):
        return
    problems = unsafe_settings(settings)
    if engine is not None:
        problems += unsafe_database(engine)
    elif settings.database_url:
        own = create_engine(settings.sqlalchemy_url, pool_pre_ping=True)
        try:
            problems += unsafe_database(own)
        finally:
            own.dispose()
    if problems:
        raise UnsafeProduction(problems)
