"""Production refuses to start on the demo's defaults: every real entry point, run as a process, exits non-zero
and names each unsafe variable; the demo keeps its stage keys and simulators."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from esa_domain.infra.settings import Settings
from esa_domain.models import Operator, Product
from esa_domain.operations.operators import create_operator
from sandbox.demo_data import DEMO_OPERATOR

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGE_VARIABLES = (
    "ECPAY_MERCHANT_ID",
    "ECPAY_HASH_KEY",
    "ECPAY_HASH_IV",
    "ECPAY_BASE_URL",
    "CUSTOMER_TOKEN_SECRET",
    "ECPAY_INVOICE_MERCHANT_ID",
    "ECPAY_INVOICE_HASH_KEY",
    "ECPAY_INVOICE_HASH_IV",
    "ECPAY_INVOICE_BASE_URL",
)
SAFE = {
    "ECPAY_MERCHANT_ID": "3123456",
    "ECPAY_HASH_KEY": "Zq8mT2vLx9Rk4Wp1",
    "ECPAY_HASH_IV": "Hn3Bc7Yd5Fg1Jk0M",
    "ECPAY_BASE_URL": "https://payment.ecpay.com.tw",
    "CUSTOMER_TOKEN_SECRET": "x" * 48,
    "ESA_PUBLIC_URL": "https://esa.example.com",
    "ESA_DELIVERY_KEY": "cHJvZHVjdGlvbi1kZWxpdmVyeS1rZXktMzItYnl0ZXM=",  # 32 bytes, not the demo's
    # ECPay's e-invoice service (issue 19): its own merchant and keys
    "ECPAY_INVOICE_MERCHANT_ID": "3654321",
    "ECPAY_INVOICE_HASH_KEY": "Pw7Rt2Yu5Io8Kl3N",
    "ECPAY_INVOICE_HASH_IV": "Qa4Sd6Fg8Hj1Zx3C",
    "ECPAY_INVOICE_BASE_URL": "https://einvoice.ecpay.com.tw",
}


def _env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """A production process environment: no ECPAY_* (so the stage defaults), no supplier or LINE settings."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("ECPAY_", "CUSTOMER_TOKEN", "ESA_"))}
    keep = {k: v for k, v in keep.items() if not k.startswith(("IAK_", "LAPAK", "BILLFAZZ_", "REDISION_"))}
    keep = {k: v for k, v in keep.items() if not k.startswith(("PULSAIF_", "LINE_", "FX_"))}
    return {
        **keep,
        "ESA_ENV": " Production ",  # any case, any spaces: still production
        "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgresql://"),
        "REDIS_URL": redis_url,
        "ESA_DATA_DIR": "/tmp/esa-production-refusal",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def _run(cmd: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


ENTRY_POINTS = {
    "esa up": [sys.executable, "-m", "esa_admin.cli", "up", "--port", "3999"],
    "esa worker": [sys.executable, "-m", "esa_admin.cli", "worker", "--processes", "1", "--threads", "1"],
    "esa scheduler": [sys.executable, "-m", "esa_admin.cli", "scheduler"],
    "API factory": [str(BIN / "uvicorn"), "--factory", "esa_api:create_app", "--port", "3998"],
    "dashboard": [sys.executable, "-c", "import esa_admin.esa_admin"],
    "dramatiq": [sys.executable, "-m", "dramatiq", "workers.actors", "--processes", "1", "--threads", "1"],
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_production_on_stage_keys_refuses_to_start_and_names_each_variable(
    db, database_url, redis_url, entry
):
    # Given production with no ECPAY_* and no CUSTOMER_TOKEN_SECRET set
    # When the entry point starts
    done = _run(ENTRY_POINTS[entry], _env(database_url, redis_url))
    # Then it exits non-zero, naming every unsafe variable and what to do
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "refuses to start" in out
    for variable in STAGE_VARIABLES:
        assert variable in out, (variable, out)
    assert "set your production" in out
    # and nothing was seeded or served
    with Session(db) as s:
        assert s.execute(select(func.count()).select_from(Operator)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Product)).scalar_one() == 0


def test_production_with_a_demo_operator_in_the_database_refuses_to_start(db, database_url, redis_url):
    # Given production with safe settings but the demo admin (published password) still in the database
    with Session(db) as s:
        create_operator(s, DEMO_OPERATOR[0], DEMO_OPERATOR[1], DEMO_OPERATOR[2])
        s.commit()
    # When a worker starts
    done = _run(ENTRY_POINTS["esa worker"], _env(database_url, redis_url, **SAFE))
    # Then it refuses, naming the operator, and nothing else
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"demo operator {DEMO_OPERATOR[0]!r}" in done.stderr
    assert "ECPAY_" not in done.stderr and "CUSTOMER_TOKEN_SECRET" not in done.stderr


def test_esa_seed_in_production_writes_no_demo_data(db, database_url, redis_url):
    # Given production with safe settings and an empty database
    # When `esa seed` runs (what `esa up` does before starting anything)
    done = _run([sys.executable, "-m", "esa_admin.cli", "seed"], _env(database_url, redis_url, **SAFE))
    # Then no demo operator, product or order was written
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not seeding demo data" in done.stdout
    with Session(db) as s:
        assert s.execute(select(func.count()).select_from(Operator)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Product)).scalar_one() == 0


def _production(**over: object) -> Settings:
    """Settings safe for production, but for `over`."""
    given: dict[str, object] = {k.lower(): v for k, v in SAFE.items() if not k.startswith("ESA_")}
    given.update(ESA_ENV="PRODUCTION", ESA_PUBLIC_URL="https://esa.example.com", suppliers={})
    given.update(ESA_DELIVERY_KEY=SAFE["ESA_DELIVERY_KEY"])
    given.update(over)
    return Settings(**given)


def test_short_token_secret_and_simulator_urls_are_named():
    from esa_domain.infra.production import unsafe_settings

    settings = _production(
        customer_token_secret="too-short",
        line_api_base_url="http://127.0.0.1:8100/line",
        fx_source_url="http://localhost:8100/fx/rates/IDR-TWD",
    )
    problems = "\n".join(unsafe_settings(settings))
    assert "CUSTOMER_TOKEN_SECRET is 9 bytes" in problems
    assert "LINE_API_BASE_URL" in problems and "FX_SOURCE_URL" in problems
    assert "ECPAY" not in problems


def test_the_e_invoice_services_stage_keys_and_a_simulator_are_named():
    from esa_domain.infra.production import unsafe_settings

    stage = _production(
        ecpay_invoice_merchant_id="2000132",
        ecpay_invoice_hash_key="ejCk326UnaZWKisg",
        ecpay_invoice_hash_iv="q9jcZX8Ib9LM8wYk",
        ecpay_invoice_base_url="https://einvoice-stage.ecpay.com.tw",
    )
    problems = "\n".join(unsafe_settings(stage))
    for variable in ("ECPAY_INVOICE_MERCHANT_ID", "ECPAY_INVOICE_HASH_KEY", "ECPAY_INVOICE_HASH_IV"):
        assert variable in problems
    assert "ECPAY_INVOICE_BASE_URL is 'https://einvoice-stage.ecpay.com.tw'" in problems
    local = _production(ecpay_invoice_base_url="http://127.0.0.1:8100/einvoice")
    simulator = "\n".join(unsafe_settings(local))
    assert "ECPAY_INVOICE_BASE_URL" in simulator and "MERCHANT_ID" not in simulator


def test_supplier_pointing_at_a_simulator_is_named():
    from esa_domain.adapters.suppliers.registry import supplier_settings
    from esa_domain.infra.production import unsafe_settings

    suppliers = supplier_settings(
        {"IAK_USERNAME": "0812", "IAK_API_KEY": "k", "IAK_PREPAID_URL": "http://127.0.0.1:8100/iak"}
    )
    problems = "\n".join(unsafe_settings(_production(), {"iak": suppliers["iak"]}))
    assert "IAK_PREPAID_URL is 'http://127.0.0.1:8100/iak'" in problems
    assert "IAK_POSTPAID_URL" in problems  # still the IAK development default


def test_safe_production_settings_and_the_demo_start(db):
    from esa_domain.infra.production import refuse_unsafe_production, unsafe_database, unsafe_settings

    safe = _production()
    assert unsafe_settings(safe) == []
    assert unsafe_database(db) == []
    refuse_unsafe_production(safe, db)  # nothing raised
    # the demo runs on the stage keys and simulators on purpose: never refused
    with Session(db) as s:
        create_operator(s, DEMO_OPERATOR[0], DEMO_OPERATOR[1], DEMO_OPERATOR[2])
        s.commit()
    refuse_unsafe_production(Settings(ESA_ENV="demo"), db)
    assert Settings(ESA_ENV=" Demo ").environment == "demo"
