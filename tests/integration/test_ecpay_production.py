"""ECPay notifications over HTTP that must change nothing: signed with the public stage keys against a
production-configured API, RtnCode "01", EncryptType=0 (MD5). Each is kept as rejected; the payment stays PENDING."""

from __future__ import annotations

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select
from sqlmodel import Session

from esa_api import create_app
from esa_domain.adapters.ecpay import check_mac_value
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import GatewayEvent, OutboxMessage, Payment
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from tests import factories
from workers.publisher import DramatiqPublisher

STAGE_KEY, STAGE_IV, STAGE_MID = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs", "3002607"
PROD_KEY, PROD_IV, PROD_MID = "Zq8mT2vLx9Rk4Wp1", "Hn3Bc7Yd5Fg1Jk0M", "3123456"


def _api(db, redis_url, run_asgi, **settings: object) -> str:
    runtime = Runtime(
        Settings(database_url="x", redis_url=redis_url, suppliers={}, **settings),
        db,
        DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")),
    )
    return run_asgi(create_app(runtime))


@pytest.fixture
def production_api(db, redis_url, redis_client, run_asgi) -> str:
    """Our API as production runs it: real-looking merchant keys, not the stage ones."""
    return _api(
        db,
        redis_url,
        run_asgi,
        ESA_ENV="production",
        ESA_PUBLIC_URL="https://esa.example.com",
        ecpay_merchant_id=PROD_MID,
        ecpay_hash_key=PROD_KEY,
        ecpay_hash_iv=PROD_IV,
        ecpay_base_url="https://payment.ecpay.com.tw",
        customer_token_secret="s" * 48,
        ESA_DELIVERY_KEY="cHJvZHVjdGlvbi1kZWxpdmVyeS1rZXktMzItYnl0ZXM=",  # 32 bytes, not the demo's published key
        # ECPay's e-invoice service (issue 19): production keys of its own
        ecpay_invoice_merchant_id="3654321",
        ecpay_invoice_hash_key="Pw7Rt2Yu5Io8Kl3N",
        ecpay_invoice_hash_iv="Qa4Sd6Fg8Hj1Zx3C",
        ecpay_invoice_base_url="https://einvoice.ecpay.com.tw",
    )


@pytest.fixture
def demo_api(db, redis_url, redis_client, run_asgi) -> str:
    """The demo's API: the stage keys, so a notice signed with them is genuinely signed."""
    return _api(db, redis_url, run_asgi)


def _placed(db):
    factories.catalog(db)
    cust = factories.customer(db, "U-prod")
    with UnitOfWork(db) as uow:
        return place_order(uow, OrderRequest(cust.id, "k-prod", [OrderLine("TSEL10", "081234567890")]))


def _notice(placed, key: str, iv: str, merchant: str, method: str = "sha256", **over: str) -> dict[str, str]:
    fields = {
        "MerchantID": merchant,
        "MerchantTradeNo": placed.merchant_trade_no,
        "RtnCode": "1",
        "RtnMsg": "交易成功",
        "TradeNo": "2311230000123456",
        "TradeAmt": str(placed.amount_twd),
        "PaymentDate": "2026/11/23 20:00:00",
        "PaymentType": "Credit_CreditCard",
        "SimulatePaid": "0",
        "CustomField1": str(placed.payment_id),
        **over,
    }
    fields["CheckMacValue"] = check_mac_value(fields, key, iv, method)
    return fields


def _nothing_moved(db, placed) -> str:
    with Session(db) as s:
        assert s.get(Payment, placed.payment_id).status == "PENDING"
        fulfil = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == "fulfill_item")
        assert s.execute(fulfil).scalar_one() == 0
        event = s.execute(select(GatewayEvent)).scalars().one()
    assert event.outcome.startswith("rejected")
    return event.outcome


def test_production_left_on_the_stage_keys_never_serves_a_forged_notice(
    db, redis_url, redis_client, run_asgi
):
    # Given production configured with everything but ECPay's keys (so the stage defaults)
    placed = _placed(db)
    # When the API is started and an attacker posts "paid" signed with the published stage keys
    with pytest.raises(RuntimeError, match="ECPAY_HASH_KEY"):
        api = _api(
            db,
            redis_url,
            run_asgi,
            ESA_ENV="Production",
            ESA_PUBLIC_URL="https://esa.example.com",
            customer_token_secret="s" * 48,
        )
        httpx.post(api + "/ecpay/return", data=_notice(placed, STAGE_KEY, STAGE_IV, STAGE_MID))
    # Then the API never started, and the order is still unpaid
    with Session(db) as s:
        assert s.get(Payment, placed.payment_id).status == "PENDING"
        assert s.execute(select(func.count()).select_from(GatewayEvent)).scalar_one() == 0


@pytest.mark.parametrize("merchant", [PROD_MID, STAGE_MID])
def test_a_notice_signed_with_the_stage_keys_moves_nothing_in_production(db, production_api, merchant):
    # Given an unpaid order on a production-configured API
    placed = _placed(db)
    # When an attacker posts "paid", signed with ECPay's published stage keys
    r = httpx.post(production_api + "/ecpay/return", data=_notice(placed, STAGE_KEY, STAGE_IV, merchant))
    # Then it is refused and kept as rejected; nothing ships
    assert r.status_code == 400 and r.text.startswith("0|")
    assert "CheckMacValue" in _nothing_moved(db, placed)


def test_a_notice_signed_with_our_production_keys_is_accepted(db, production_api):
    placed = _placed(db)
    r = httpx.post(production_api + "/ecpay/return", data=_notice(placed, PROD_KEY, PROD_IV, PROD_MID))
    assert (r.status_code, r.text) == (200, "1|OK")
    with Session(db) as s:
        assert s.get(Payment, placed.payment_id).status == "PAID"


@pytest.mark.parametrize("code", ["01", "001"])
def test_rtncode_that_only_parses_to_1_moves_nothing(db, demo_api, code):
    placed = _placed(db)
    r = httpx.post(
        demo_api + "/ecpay/return", data=_notice(placed, STAGE_KEY, STAGE_IV, STAGE_MID, RtnCode=code)
    )
    assert r.status_code == 400 and r.text.startswith("0|")
    assert "RtnCode" in _nothing_moved(db, placed)


@pytest.mark.parametrize("method", ["md5", "sha256"])
def test_encrypt_type_0_moves_nothing(db, demo_api, method):
    placed = _placed(db)
    notice = _notice(placed, STAGE_KEY, STAGE_IV, STAGE_MID, method, EncryptType="0")
    r = httpx.post(demo_api + "/ecpay/return", data=notice)
    assert r.status_code == 400 and r.text.startswith("0|")
    _nothing_moved(db, placed)
