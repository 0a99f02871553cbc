"""The e-invoice carrier over real HTTP (issue 19): our API under uvicorn, real PostgreSQL and Redis, and ECPay's
e-invoice simulator (sandbox/ecpay_invoice.py) answering CheckBarcode / CheckLoveCode.

- A mobile barcode (手機條碼) or a love code (捐贈碼) is checked with ECPay before the order: a wrong format is refused
  at once (ECPay is not asked), one ECPay does not know is refused in the customer's language, ECPay away is said
  (503) and nothing is saved; a good one can be saved and is read back for the next checkout.
- The order carries it on its payment (payments.invoice_carrier_kind / _value), written by place_order's one
  statement; a malformed carrier writes nothing; the same Idempotency-Key with another carrier is another order.

The simulator's known carriers are its documented constants (DEMO_BARCODES, DEMO_LOVE_CODES); the formats are the
Ministry of Finance's as ECPay documents them: a mobile barcode is '/' and 7 of 0-9 A-Z . + -, a love code 3-7
digits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select
from sqlmodel import Session

from esa_domain.adapters.ecpay_invoice.client import EcpayInvoiceClient
from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.invoicing.carrier import Carrier
from esa_domain.invoicing.carrier_choice import save_carrier
from esa_domain.models import Customer, Payment, PaymentItem, Refund, SavedInvoiceCarrier
from esa_domain.operations.actions import complete_refund, refund
from esa_domain.operations.operators import create_operator
from esa_domain.payments.settlement import finish_payment_if_done
from sandbox import ecpay_invoice
from tests.integration import test_bills_api as bills_api
from tests.integration import test_customer_side as customer_side
from tests.integration.test_customer_side import PHONE
from tests.integration.test_invoices import run_invoice_outbox
from workers.publisher import DramatiqPublisher

stack = customer_side.stack  # the fixture: our API, the ECPay and LINE simulators, a signed-in customer
api, world = bills_api.api, bills_api.world  # the fixtures: bills over the API, the supplier simulators


@pytest.fixture
def shop(stack, db, redis_url, run_asgi):
    """test_customer_side's stack with the e-invoice simulator behind the runtime's invoice client."""
    s = stack
    s.invoice = run_asgi(ecpay_invoice.create_app())
    settings = Settings(
        database_url="x",
        redis_url=redis_url,
        ESA_PUBLIC_URL=s.api,
        ecpay_base_url=s.ecpay,
        ecpay_invoice_base_url=s.invoice,
        ecpay_invoice_merchant_id=ecpay_invoice.MERCHANT_ID,
        ecpay_invoice_hash_key=ecpay_invoice.HASH_KEY,
        ecpay_invoice_hash_iv=ecpay_invoice.HASH_IV,
    )
    s.app.state.runtime = Runtime(
        settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa"))
    )
    return s


def _check(shop, kind: str, value: str | None, save: bool = False, lang: str = "en") -> httpx.Response:
    return httpx.post(
        f"{shop.api}/api/v1/invoice-carrier/check",
        json={"kind": kind, "value": value, "save": save},
        headers={**shop.auth, "Accept-Language": lang},
    )


def _saved(shop) -> dict:
    r = httpx.get(f"{shop.api}/api/v1/me/invoice-carrier", headers=shop.auth)
    assert r.status_code == 200, r.text
    return r.json()


def _asked(shop) -> list[tuple[str, str]]:
    """What ECPay's simulator was asked: (operation, the barcode or love code)."""
    requests = httpx.get(f"{shop.invoice}/_sandbox/ledger").json()["requests"]
    return [(q["operation"], q["data"].get("BarCode") or q["data"].get("LoveCode")) for q in requests]


def _rows(db) -> list[tuple[int, str, str]]:
    with Session(db) as s:
        return [(r.customer_id, r.kind, r.value) for r in s.exec(select(SavedInvoiceCarrier)).scalars()]


def _payments(db) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(Payment)).scalar_one()


def test_a_mobile_barcode_ecpay_knows_is_saved_and_read_back_for_the_next_checkout(shop):
    assert "/ABC+123" in ecpay_invoice.DEMO_BARCODES and "168001" in ecpay_invoice.DEMO_LOVE_CODES
    assert _saved(shop) == {"kind": "none", "value": None, "saved": False}

    # typed in small letters: normalised to the barcode ECPay knows, asked once, and kept
    r = _check(shop, "mobile", " /abc+123 ", save=True)
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "mobile", "value": "/ABC+123", "saved": True}
    assert _asked(shop) == [("CheckBarcode", "/ABC+123")]
    assert _saved(shop) == {"kind": "mobile", "value": "/ABC+123", "saved": True}
    assert [row[1:] for row in _rows(shop.db)] == [("mobile", "/ABC+123")]

    # a check without `save` keeps the saved one as it was
    assert _check(shop, "donation", "168001").json() == {
        "kind": "donation",
        "value": "168001",
        "saved": False,
    }
    assert _saved(shop)["value"] == "/ABC+123"

    # a love code saved replaces it (one carrier per customer); 'none' saved forgets it, asking ECPay nothing
    assert _check(shop, "donation", "168001", save=True).json()["saved"] is True
    assert [row[1:] for row in _rows(shop.db)] == [("donation", "168001")]
    asked = len(_asked(shop))
    assert _check(shop, "none", None, save=True).status_code == 200
    assert _rows(shop.db) == [] and _saved(shop)["kind"] == "none"
    assert len(_asked(shop)) == asked


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("id", "tidak terdaftar"),
        ("en", "not registered"),
        ("zh-Hant", "未在財政部電子發票平台註冊"),
    ],
)
def test_a_mobile_barcode_ecpay_does_not_know_is_refused_in_the_customers_language_and_not_saved(
    shop, lang, words
):
    assert _check(shop, "mobile", "/ABC+123", save=True).status_code == 200
    r = _check(shop, "mobile", "/ZZZ9999", save=True, lang=lang)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invoice_carrier_mobile_not_found" and body["field"] == "invoice_carrier.value"
    assert words in body["detail"]
    assert _asked(shop)[-1] == ("CheckBarcode", "/ZZZ9999")  # ECPay answered IsExist N
    assert [row[1:] for row in _rows(shop.db)] == [("mobile", "/ABC+123")]  # the saved one stays


@pytest.mark.parametrize(
    ("kind", "value", "code", "words"),
    [
        ("mobile", "ABC+1234", "invoice_carrier_mobile_format", "/ABC+123"),  # no leading '/'
        ("mobile", "/AB", "invoice_carrier_mobile_format", "7"),
        ("mobile", "/ABC_123", "invoice_carrier_mobile_format", "+ - ."),
        ("donation", "12", "invoice_carrier_love_code_format", "3 to 7 digits"),
        ("donation", "12a45", "invoice_carrier_love_code_format", "3 to 7 digits"),
        ("paper", None, "invoice_carrier_kind", "none"),
    ],
)
def test_a_wrong_format_is_refused_at_once_without_asking_ecpay(shop, kind, value, code, words):
    r = _check(shop, kind, value, save=True)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code and words in r.json()["detail"]
    assert _asked(shop) == [] and _rows(shop.db) == []


def test_a_love_code_ecpay_does_not_know_is_refused(shop):
    r = _check(shop, "donation", "1234", lang="id")
    assert r.status_code == 422 and r.json()["code"] == "invoice_carrier_love_code_not_found"
    assert "Kode donasi ini tidak terdaftar" in r.json()["detail"]
    assert _asked(shop) == [("CheckLoveCode", "1234")]


def test_ecpay_not_answering_is_said_and_nothing_is_saved(shop):
    httpx.post(f"{shop.invoice}/_sandbox/failures", json={"operation": "CheckBarcode", "count": 1})
    r = _check(shop, "mobile", "/ABC+123", save=True, lang="zh-Hant")
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "invoice_carrier_unavailable" and "目前無法驗證" in r.json()["detail"]
    assert _rows(shop.db) == []
    # asked again once ECPay answers: accepted
    assert _check(shop, "mobile", "/ABC+123", save=True).status_code == 200
    assert [row[1:] for row in _rows(shop.db)] == [("mobile", "/ABC+123")]


def _order(shop, carrier: dict | None, key: str | None = None, lang: str = "en") -> httpx.Response:
    body: dict = {"items": [PHONE]}
    if carrier is not None:
        body["invoice_carrier"] = carrier
    headers = {**shop.auth, "Idempotency-Key": key or str(uuid.uuid4()), "Accept-Language": lang}
    return httpx.post(f"{shop.api}/api/v1/orders", json=body, headers=headers)


def _carrier_of(db, payment_id: int) -> tuple[str, str | None]:
    with Session(db) as s:
        p = s.get(Payment, payment_id)
        assert p is not None
        return p.invoice_carrier_kind, p.invoice_carrier_value


def test_the_order_carries_its_carrier_on_the_payment_and_a_malformed_one_writes_nothing(shop):
    # no carrier: 'none' (ECPay's member carrier, esa_domain.invoicing.carrier)
    r = _order(shop, None)
    assert r.status_code == 201, r.text
    assert _carrier_of(shop.db, r.json()["id"]) == ("none", None)

    r = _order(shop, {"kind": "mobile", "value": "/abc+123"})
    assert r.status_code == 201, r.text
    assert _carrier_of(shop.db, r.json()["id"]) == ("mobile", "/ABC+123")

    r = _order(shop, {"kind": "donation", "value": "168001"})
    assert _carrier_of(shop.db, r.json()["id"]) == ("donation", "168001")
    assert _asked(shop) == []  # the order re-checks the format only: the hot path asks ECPay nothing

    before = _payments(shop.db)
    for carrier, code, lang, words in (
        ({"kind": "mobile", "value": "/AB"}, "invoice_carrier_mobile_format", "id", "dimulai dengan /"),
        ({"kind": "donation", "value": "12"}, "invoice_carrier_love_code_format", "zh-Hant", "3 到 7 位數字"),
        ({"kind": "mobile"}, "invoice_carrier_mobile_format", "en", "/ABC+123"),
    ):
        r = _order(shop, carrier, lang=lang)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == code and r.json()["field"].startswith("invoice_carrier")
        assert words in r.json()["detail"], (lang, r.text)
    assert _payments(shop.db) == before  # nothing written


def test_the_same_key_with_another_carrier_is_another_order_and_with_the_same_one_a_replay(shop):
    key = str(uuid.uuid4())
    first = _order(shop, {"kind": "mobile", "value": "/ABC+123"}, key=key)
    assert first.status_code == 201, first.text
    replay = _order(shop, {"kind": "mobile", "value": "/abc+123"}, key=key)  # the same barcode, typed small
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    other = _order(shop, {"kind": "donation", "value": "168001"}, key=key)
    assert other.status_code == 409, other.text
    assert _carrier_of(shop.db, first.json()["id"]) == ("mobile", "/ABC+123") and _payments(shop.db) == 1


def _deliver_paid_by_atm(db, payment_id: int) -> None:
    """The order paid at an ATM (no refund API: an operator refunds by hand) and its items delivered, settled as
    fulfillment settles it (which opens its invoice)."""
    with Session(db) as s:
        p = s.get(Payment, payment_id)
        assert p is not None
        transition_payment(
            s, payment_id, PaymentStatus.PAID, cause="test: paid at an ATM", actor="ecpay",
            values={"paid_at": datetime.now(UTC), "paid_amount_twd": p.amount_twd, "payment_method": "ATM_LAND"},
        )  # fmt: skip
        for item in s.exec(select(PaymentItem).where(PaymentItem.payment_id == payment_id)).scalars():
            transition_item(s, item.id, ItemStatus.PROCESSING, cause="test", actor="test")
            transition_item(s, item.id, ItemStatus.SUCCESS, cause="test", actor="test")
        assert finish_payment_if_done(s, payment_id, public_url="https://esa.example").current == "SUCCESS"
        s.commit()


def _read(shop, order_id: int, lang: str) -> dict:
    r = httpx.get(f"{shop.api}/api/v1/orders/{order_id}", headers={**shop.auth, "Accept-Language": lang})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_customers_order_shows_its_invoice_then_its_allowance_in_their_language(shop):
    client = EcpayInvoiceClient(
        shop.invoice, ecpay_invoice.MERCHANT_ID, ecpay_invoice.HASH_KEY, ecpay_invoice.HASH_IV, timeout=5
    )
    # Given an order to a mobile barcode, paid and delivered: no invoice before it is issued
    order = _order(shop, {"kind": "mobile", "value": "/ABC+123"}).json()
    assert _read(shop, order["id"], "en")["invoice"] is None
    _deliver_paid_by_atm(shop.db, order["id"])
    pending = _read(shop, order["id"], "id")["invoice"]
    assert (pending["status"], pending["invoice_no"], pending["status_text"]) == (
        "PENDING",
        None,
        "Faktur sedang dibuat",
    )

    # When ECPay issues it (the invoice worker's step), Then the order carries its number and random code
    assert run_invoice_outbox(shop.db, client) == ["ISSUED"]
    (issued,) = httpx.get(f"{shop.invoice}/_sandbox/ledger").json()["invoices"]
    for lang, words in (("id", "Faktur sudah terbit"), ("en", "Invoice issued"), ("zh-Hant", "發票已開立")):
        invoice = _read(shop, order["id"], lang)["invoice"]
        assert (invoice["invoice_no"], invoice["random_number"]) == (
            issued["invoice_no"],
            issued["random_number"],
        )
        assert invoice["status_text"] == words and invoice["status_colour"] == "green"
        assert (invoice["carrier_kind"], invoice["carrier_value"]) == ("mobile", "/ABC+123")
        assert (invoice["amount_twd"], invoice["allowance_twd"], invoice["invalidated"]) == (25, 0, False)
    # the list carries no invoice (one order's page reads it)
    listed = httpx.get(f"{shop.api}/api/v1/orders", headers=shop.auth).json()["orders"]
    assert [o["invoice"] for o in listed] == [None]

    # When NT$10 is refunded by hand (an ATM payment), ECPay makes an allowance, and the order says so
    with UnitOfWork(shop.db) as uow:
        admin = create_operator(uow.session, "ops", "a-long-password-1", role="operator")
        uow.commit()
    with UnitOfWork(shop.db) as uow:
        refund(uow, admin, order["id"], "goodwill: late delivery", 10)
        uow.commit()
    with Session(shop.db) as s:
        refund_id = s.exec(select(Refund.id).where(Refund.payment_id == order["id"])).scalars().one()
    with UnitOfWork(shop.db) as uow:
        complete_refund(uow, admin, refund_id, "transfer 123")
        uow.commit()
    assert run_invoice_outbox(shop.db, client) == ["DONE"]
    invoice = _read(shop, order["id"], "en")["invoice"]
    assert (invoice["allowance_twd"], invoice["invalidated"], invoice["status"]) == (10, False, "ISSUED")
    (issued,) = httpx.get(f"{shop.invoice}/_sandbox/ledger").json()["invoices"]
    assert [a["amount"] for a in issued["allowances"]] == [10]
    client.close()


def test_buy_again_sends_its_invoice_to_the_saved_carrier(shop):
    first = _order(shop, None)  # ordered before any carrier was saved: none
    assert first.status_code == 201, first.text
    assert _check(shop, "mobile", "/ABC+123", save=True).status_code == 200
    headers = {**shop.auth, "Idempotency-Key": str(uuid.uuid4())}
    r = httpx.post(f"{shop.api}/api/v1/orders/{first.json()['id']}/again", headers=headers)
    assert r.status_code == 201, r.text
    assert _carrier_of(shop.db, first.json()["id"]) == ("none", None)
    assert _carrier_of(shop.db, r.json()["id"]) == ("mobile", "/ABC+123")


def test_a_bill_ordered_from_its_inquiry_sends_its_invoice_to_the_saved_carrier(db, api):
    # test_bills_api's app and supplier world: BPJS 8801234560001 bills "VERGIE" (IAK's documented example)
    auth = api.sign_in()
    with Session(db) as s:
        customer_id = s.exec(select(Customer.id)).scalars().one()
    with UnitOfWork(db) as uow:
        save_carrier(uow.session, customer_id, Carrier("donation", "168001"))
        uow.commit()
    q = httpx.post(
        f"{api.base}/api/v1/bills/inquiries",
        headers=auth,
        json={"product_code": "BPJSKES", "customer_no": "8801234560001", "months": 1},
    ).json()
    r = httpx.post(
        f"{api.base}/api/v1/bills/inquiries/{q['id']}/order",
        headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    assert _carrier_of(db, r.json()["id"]) == ("donation", "168001")


def test_a_full_refund_shows_the_invoice_invalidated(shop):
    client = EcpayInvoiceClient(
        shop.invoice, ecpay_invoice.MERCHANT_ID, ecpay_invoice.HASH_KEY, ecpay_invoice.HASH_IV, timeout=5
    )
    order = _order(shop, {"kind": "donation", "value": "168001"}).json()
    _deliver_paid_by_atm(shop.db, order["id"])
    assert run_invoice_outbox(shop.db, client) == ["ISSUED"]
    # a donated invoice cannot be invalidated (ECPay's B2C guide): a full refund of it is an allowance of all
    with UnitOfWork(shop.db) as uow:
        ops = create_operator(uow.session, "ops", "a-long-password-1", role="operator")
        uow.commit()
    with UnitOfWork(shop.db) as uow:
        refund(uow, ops, order["id"], "dispute: never used", None)
        uow.commit()
    with Session(shop.db) as s:
        refund_id = s.exec(select(Refund.id).where(Refund.payment_id == order["id"])).scalars().one()
    with UnitOfWork(shop.db) as uow:
        complete_refund(uow, ops, refund_id, "transfer 124")
        uow.commit()
    assert run_invoice_outbox(shop.db, client) == ["DONE"]
    invoice = _read(shop, order["id"], "zh-Hant")["invoice"]
    assert (invoice["carrier_kind"], invoice["carrier_value"]) == ("donation", "168001")
    assert (invoice["allowance_twd"], invoice["invalidated"]) == (25, False)

    # the same for an invoice to a mobile barcode: invalidated (作廢), inside its period
    order = _order(shop, {"kind": "mobile", "value": "/ABC+123"}).json()
    _deliver_paid_by_atm(shop.db, order["id"])
    assert run_invoice_outbox(shop.db, client) == ["ISSUED"]
    with UnitOfWork(shop.db) as uow:
        refund(uow, ops, order["id"], "dispute: never used", None)
        uow.commit()
    with Session(shop.db) as s:
        refund_id = (
            s.exec(
                select(Refund.id).where(Refund.payment_id == order["id"]).order_by(Refund.id.desc())  # type: ignore[union-attr]
            )
            .scalars()
            .first()
        )
    with UnitOfWork(shop.db) as uow:
        complete_refund(uow, ops, refund_id, "transfer 125")
        uow.commit()
    assert run_invoice_outbox(shop.db, client) == ["DONE"]
    invoice = _read(shop, order["id"], "id")["invoice"]
    assert (invoice["status"], invoice["invalidated"], invoice["status_text"]) == (
        "INVALIDATED",
        True,
        "Faktur dibatalkan",
    )
    client.close()


def test_carrier_checks_are_limited_per_customer_since_each_one_asks_ecpay(shop):
    import time

    from esa_api.customer.routes_invoice import CHECKS_PER_MINUTE

    while time.time() % 60 > 50:  # the limiter's windows are whole minutes: all of these in one of them
        time.sleep(0.5)
    answers = [
        _check(shop, "mobile", "/ABC+123", lang="id").status_code for _ in range(CHECKS_PER_MINUTE + 1)
    ]
    assert answers[:-1] == [200] * CHECKS_PER_MINUTE
    assert answers[-1] == 429
    r = _check(shop, "mobile", "/ABC+123", lang="id")
    assert r.json()["code"] == "rate_limited" and "Terlalu banyak permintaan" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) >= 1
    assert len(_asked(shop)) == CHECKS_PER_MINUTE  # the refused ones never reached ECPay
