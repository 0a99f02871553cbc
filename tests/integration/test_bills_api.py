"""The customer API for bills and checks before paying (issue 16), over real HTTP: our app, the LINE sandbox and
the supplier simulators on real ports, real PostgreSQL and Redis. Errors answer in the customer's language.

Test data from iak-id/iak-api-reference-docs: BPJS 8801234560001 / 0004 (docs/postpaid/core/product/
bpjs-kesehatan/inquiry.md), the PLN meter 12345678901 owned by "Sintya Oktaviani", R1 /000001300
(docs/prepaid/core/v2/inquiry/pln.md), operator prefixes (docs/prepaid/prefix-list.md: 0817 is XL).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select
from sqlmodel import Session

from esa_api import create_app
from esa_api.customer.config import CustomerApiConfig
from esa_domain.adapters.suppliers.registry import supplier_settings
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import Payment, Product, ProductCategory, Supplier, SupplierOffer
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests.integration.test_customer_api import ORIGIN, Api
from tests.supplier_world import catalog, start_world
from workers.publisher import DramatiqPublisher


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


@pytest.fixture
def api(db, redis_url, redis_client, run_asgi, world) -> Api:
    world.reset()
    catalog(db)
    with Session(db) as s:
        iak = s.exec(select(Supplier).where(Supplier.code == "iak")).scalars().one()
        bills = ProductCategory(code="bpjs", name="BPJS", kind="postpaid")
        pln = ProductCategory(code="pln", name="PLN")
        pulsa = s.exec(select(ProductCategory).where(ProductCategory.code == "pulsa")).scalars().one()
        s.add_all([bills, pln])
        s.flush()
        for code, cat, name, kind, sku, cost in (
            ("BPJSKES", bills, "BPJS Kesehatan", "customer_no", "BPJS", 2_400),
            ("PLN20", pln, "PLN token 20.000", "pln_meter", "hpln20000", 20_350),
            ("XL10", pulsa, "XL pulsa 10.000", "phone", "hxl10000", 10_700),
        ):
            p = Product(code=code, category_id=cat.id, name=name, price_twd=50, target_kind=kind)
            s.add(p)
            s.flush()
            s.add(SupplierOffer(supplier_id=iak.id, product_id=p.id, supplier_sku=sku, cost_idr=cost))
        s.commit()
    line_cfg = LineSandboxConfig()
    line_url = run_asgi(create_line_sandbox(line_cfg))
    app = create_app()
    base = run_asgi(app)
    env = world.env
    settings = Settings(
        **{k.lower(): v for k, v in env.items() if not k.startswith("ESA_")},
        suppliers=supplier_settings(env),
        database_url="x",
        redis_url=redis_url,
        ESA_PUBLIC_URL=base,
    )
    app.state.runtime = Runtime(settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    app.state.customer_config = CustomerApiConfig(
        token_secret=b"t" * 32,
        line_channel_id=line_cfg.channel_id,
        line_login_base_url=line_url,
        line_login_page_url=f"{line_url}/_sandbox/login",
        cors_origins=(ORIGIN,),
        public_url=base,
    )
    return Api(base, line_url, app)


def _payments(db) -> int:
    with Session(db) as s:
        return s.execute(select(func.count()).select_from(Payment)).scalar_one()


def test_a_bill_is_inquired_shown_and_ordered_once_over_the_api(db, api):
    auth = api.sign_in()
    en = {**auth, "Accept-Language": "en"}
    r = httpx.post(
        f"{api.base}/api/v1/bills/inquiries",
        headers=en,
        json={"product_code": "BPJSKES", "customer_no": "8801234560001", "months": 2},
    )
    assert r.status_code == 201, r.text
    q = r.json()
    assert (q["status"], q["status_text"], q["customer_name"], q["periods"]) == (
        "QUOTED",
        "Bill found",
        "VERGIE",
        "02",
    )
    assert (q["bill_idr"], q["admin_idr"], q["total_idr"]) == (50_000, 2_500, 52_500)
    assert q["amount_twd"] > 0 and q["expires_at"]
    assert httpx.get(f"{api.base}/api/v1/bills/inquiries/{q['id']}", headers=en).json()["id"] == q["id"]

    key = str(uuid.uuid4())
    url = f"{api.base}/api/v1/bills/inquiries/{q['id']}/order"
    first = httpx.post(url, headers={**en, "Idempotency-Key": key})
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["amount_twd"] == q["amount_twd"] and order["items"][0]["target"] == "8801234560001"
    assert order["items"][0]["bill"] == {
        "customer_name": "VERGIE",
        "periods": "02",
        "bill_idr": 50_000,
        "admin_idr": 2_500,
        "total_idr": 52_500,
    }
    again = httpx.post(url, headers={**en, "Idempotency-Key": key})
    assert (again.status_code, again.json()["id"]) == (200, order["id"])
    other = httpx.post(
        url, headers={**auth, "Accept-Language": "zh-Hant", "Idempotency-Key": str(uuid.uuid4())}
    )
    assert other.status_code == 409 and other.json()["code"] == "bill_quote_used"
    assert other.json()["detail"] == "這筆帳單已下單，請到訂單中查看。"
    assert _payments(db) == 1

    # someone else cannot read or order it
    stranger = api.sign_in("U-mallory")
    assert httpx.get(f"{api.base}/api/v1/bills/inquiries/{q['id']}", headers=stranger).status_code == 404
    r = httpx.post(url, headers={**stranger, "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 404 and _payments(db) == 1


def test_no_bill_to_pay_is_a_404_in_the_customers_language(db, api):
    r = httpx.post(
        f"{api.base}/api/v1/bills/inquiries",
        headers={**api.sign_in(), "Accept-Language": "id"},
        json={"product_code": "BPJSKES", "customer_no": "8801234560004"},
    )
    assert r.status_code == 404 and r.json()["code"] == "bill_not_found"
    assert r.json()["detail"].startswith("Tagihan tidak ditemukan")
    assert r.json()["field"] == "customer_no"


def test_an_xl_number_for_a_telkomsel_product_is_refused_before_payment(db, api):
    auth = api.sign_in()
    r = httpx.get(
        f"{api.base}/api/v1/checks",
        headers={**auth, "Accept-Language": "id-ID,id;q=0.9"},
        params={"product_code": "TSEL10", "target": "081712345678"},
    )
    assert r.status_code == 422 and r.json()["code"] == "operator_mismatch"
    assert r.json()["detail"] == "Nomor ini nomor XL, sedangkan produk ini untuk Telkomsel. Pilih produk XL."
    ok = httpx.get(
        f"{api.base}/api/v1/checks",
        headers={**auth, "Accept-Language": "en"},
        params={"product_code": "XL10", "target": "081712345678"},
    )
    assert ok.status_code == 200 and ok.json()["operator"] == "XL"
    # and the order itself is refused, nothing written
    placed = api.order(
        {**auth, "Accept-Language": "en"}, {"items": [{"product_code": "TSEL10", "target": "0817-1234-5678"}]}
    )
    assert placed.status_code == 422 and placed.json()["code"] == "operator_mismatch"
    assert "a number of XL" in placed.json()["detail"] and _payments(db) == 0


def test_a_pln_meters_owner_is_shown_before_paying(db, api):
    auth = {**api.sign_in(), "Accept-Language": "en"}
    r = httpx.get(
        f"{api.base}/api/v1/checks", headers=auth, params={"product_code": "PLN20", "target": "12345678901"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["owner_name"], r.json()["segment_power"]) == ("Sintya Oktaviani", "R1 /000001300")
    unknown = httpx.get(
        f"{api.base}/api/v1/checks", headers=auth, params={"product_code": "PLN20", "target": "12345678902"}
    )
    assert unknown.status_code == 200 and unknown.json()["owner_name"] is None
    assert unknown.json()["warning"] == "PLN does not know this meter number: check it before paying."


def test_a_game_players_nickname_is_shown_where_the_supplier_can_check_it(db, api):
    # docs/prepaid/core/v2/inquiry/game/game-id.md: game 103 (Mobile Legends' [userid]|[zoneid]) 156378300|8483
    auth = {**api.sign_in(), "Accept-Language": "zh-Hant"}
    url = f"{api.base}/api/v1/checks"
    found = httpx.get(
        url, headers=auth, params={"product_code": "ML86", "target": "156378300", "zone": "8483"}
    )
    assert found.status_code == 200 and found.json()["nickname"] == "budi"
    other = httpx.get(
        url, headers=auth, params={"product_code": "ML86", "target": "156378301", "zone": "8483"}
    )
    assert other.status_code == 200 and other.json()["nickname"] is None
    assert other.json()["warning"] == "查無此遊戲 ID：付款前請確認 ID 與伺服器。"
