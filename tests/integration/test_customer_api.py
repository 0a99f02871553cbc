"""The customer API over real HTTP: our app and the LINE sandbox under uvicorn, real PostgreSQL and Redis."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select, text
from sqlmodel import Session

from esa_api import create_app
from esa_api.customer.config import CustomerApiConfig
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import Customer, OutboxMessage, Payment, PaymentHistory, PaymentItem, PromoUsage
from sandbox import ecpay_invoice
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests import factories
from workers.publisher import DramatiqPublisher

ORIGIN = "https://miniapp.example.test"
PHONE = {"product_code": "TSEL10", "target": "081234567890"}
PLN = {"product_code": "PLN20", "target": "12345678901"}


class Api:
    """A client of the running API: signs customers in through the LINE sandbox."""

    def __init__(self, base: str, line: str, app) -> None:
        self.base = base
        self.line = line
        self.app = app

    def id_token(self, user_id: str, **kw) -> str:
        r = httpx.post(f"{self.line}/_sandbox/id_tokens", json={"user_id": user_id, "name": "Budi", **kw})
        return r.json()["id_token"]

    def sign_in(self, user_id: str = "U-alice") -> dict[str, str]:
        r = httpx.post(f"{self.base}/api/v1/auth/line", json={"id_token": self.id_token(user_id)})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def order(self, auth, body=None, key=None) -> httpx.Response:
        headers = {**auth, "Idempotency-Key": key or str(uuid.uuid4())}
        return httpx.post(f"{self.base}/api/v1/orders", json=body or {"items": [PHONE]}, headers=headers)


def build_api(db, redis_url, run_asgi, **config) -> Api:
    line_cfg = LineSandboxConfig()
    line_url = run_asgi(create_line_sandbox(line_cfg))
    app = create_app()
    base = run_asgi(app)
    # ECPay's e-invoice API is its simulator (the carrier check asks it), never the real stage service
    invoice_url = run_asgi(ecpay_invoice.create_app())
    settings = Settings(
        database_url="x",
        redis_url=redis_url,
        ESA_PUBLIC_URL=base,
        ecpay_invoice_base_url=invoice_url,
        ecpay_invoice_merchant_id=ecpay_invoice.MERCHANT_ID,
        ecpay_invoice_hash_key=ecpay_invoice.HASH_KEY,
        ecpay_invoice_hash_iv=ecpay_invoice.HASH_IV,
    )
    app.state.runtime = Runtime(settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    app.state.customer_config = CustomerApiConfig(
        token_secret=b"t" * 32,
        line_channel_id=line_cfg.channel_id,
        line_login_base_url=line_url,
        line_login_page_url=f"{line_url}/_sandbox/login",
        cors_origins=(ORIGIN,),
        public_url=base,
        **config,
    )
    return Api(base, line_url, app)


@pytest.fixture
def api(db, redis_url, redis_client, run_asgi) -> Api:
    factories.catalog(db)
    return build_api(db, redis_url, run_asgi)


def count(db, model, *where) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).scalar_one()


def written(db) -> tuple[int, ...]:
    return tuple(count(db, m) for m in (Payment, PaymentItem, PaymentHistory, OutboxMessage, PromoUsage))


def assert_problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert (body["status"], body["code"]) == (status, code)
    if field is not None:
        assert body["field"] == field
    return body


# --- sign-in -------------------------------------------------------------------------------------------


def test_sign_in_with_a_line_id_token_creates_the_customer_once(db, api):
    first = httpx.post(f"{api.base}/api/v1/auth/line", json={"id_token": api.id_token("U-alice")}).json()
    again = httpx.post(f"{api.base}/api/v1/auth/line", json={"id_token": api.id_token("U-alice")}).json()
    assert first["token_type"] == "Bearer" and first["expires_in"] == 1800
    assert first["customer"]["id"] == again["customer"]["id"]
    assert first["customer"]["display_name"] == "Budi"
    assert count(db, Customer) == 1


@pytest.mark.parametrize(
    "token",
    ["forged", "expired", "other channel"],
)
def test_a_refused_line_id_token_is_401_and_creates_no_customer(db, api, token):
    id_token = {
        "forged": api.id_token("U-x")[:-4] + "AAAA",
        "expired": api.id_token("U-x", expires_in=-10),
        "other channel": api.id_token("U-x", client_id="1999999999"),
    }[token]
    r = httpx.post(f"{api.base}/api/v1/auth/line", json={"id_token": id_token})
    body = assert_problem(r, 401, "line_token_invalid", "id_token")
    assert "sign in again" in body["detail"]
    assert count(db, Customer) == 0


def test_calls_without_a_valid_token_are_401_with_a_bearer_challenge(api):
    auth = api.sign_in()
    tampered = {"Authorization": auth["Authorization"].replace(".1.", ".2.", 1)}
    for headers in ({}, {"Authorization": "Bearer nonsense"}, tampered):
        r = httpx.get(f"{api.base}/api/v1/orders", headers=headers)
        assert_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer")


# --- catalog, quote, promos --------------------------------------------------------------------------------


def test_catalog_lists_what_is_on_sale_with_prices_and_target_hints(api):
    r = httpx.get(f"{api.base}/api/v1/catalog")
    assert r.status_code == 200
    products = {p["code"]: p for c in r.json()["categories"] for p in c["products"]}
    assert set(products) == {"TSEL10", "PLN20", "ML86"}  # the withdrawn product is not offered
    assert products["TSEL10"]["price_twd"] == 25 and products["TSEL10"]["target_kind"] == "phone"
    assert "08" in products["TSEL10"]["target"]["hint"]
    assert products["ML86"]["target"]["needs_zone"] is True
    assert products["PLN20"]["target"]["pattern"] == r"^\d{11}$"


def test_quote_normalises_targets_and_prices_the_basket_without_writing(db, api):
    auth = api.sign_in()
    body = {"items": [{"product_code": "TSEL10", "target": "+62 812-3456-7890"}, PLN]}
    r = httpx.post(f"{api.base}/api/v1/quote", json=body, headers=auth)
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["items"][0]["target"] == "081234567890"
    assert (q["subtotal_twd"], q["discount_twd"], q["amount_twd"]) == (70, 0, 70)
    assert written(db) == (0, 0, 0, 0, 0)


def test_a_stale_fx_rate_refuses_quotes_with_503(db, api):
    with db.begin() as conn:
        conn.execute(text("UPDATE fx_rates SET fetched_at = now() - interval '3 days'"))
    r = httpx.post(f"{api.base}/api/v1/quote", json={"items": [PHONE]}, headers=api.sign_in())
    assert_problem(r, 503, "fx_rate_stale")


def test_promo_validate_reports_the_discount_or_why_not(db, api):
    factories.promo(db, code="HEMAT10", value=10)
    factories.promo(db, code="LATER", starts_at=datetime.now(UTC) + timedelta(days=2))
    auth = api.sign_in()
    ok = httpx.post(
        f"{api.base}/api/v1/promos/validate", json={"promo_code": "hemat10", "items": [PLN]}, headers=auth
    )
    assert ok.status_code == 200 and ok.json() == {
        "promo_code": "HEMAT10",
        "valid": True,
        "subtotal_twd": 45,
        "discount_twd": 4,
        "amount_twd": 41,
    }
    for code, expected in (("NOPE", "promo_unknown"), ("LATER", "promo_not_started")):
        r = httpx.post(
            f"{api.base}/api/v1/promos/validate", json={"promo_code": code, "items": [PLN]}, headers=auth
        )
        assert_problem(r, 422, expected, "promo_code")
    assert api.order(auth, {"items": [PLN], "promo_code": "HEMAT10"}).status_code == 201
    used = httpx.post(
        f"{api.base}/api/v1/promos/validate", json={"promo_code": "HEMAT10", "items": [PLN]}, headers=auth
    )
    assert_problem(used, 409, "promo_already_used", "promo_code")


# --- validation: every rejected order writes nothing ------------------------------------------------------

INVALID = [
    ({"items": [{"product_code": "TSEL10", "target": "0212345678"}]}, "invalid_target", "items[0].target"),
    (
        {"items": [PHONE, {"product_code": "PLN20", "target": "1234567890"}]},
        "invalid_target",
        "items[1].target",
    ),
    ({"items": [{"product_code": "ML86", "target": "12345678"}]}, "invalid_target", "items[0].zone"),
    ({"items": [{"product_code": "ML86", "target": "a", "zone": "1"}]}, "invalid_target", "items[0].target"),
    ({"items": [{"product_code": "NOPE", "target": "1"}]}, "unknown_product", "items[0].product_code"),
    ({"items": [{"product_code": "OFF1", "target": "081234567890"}]}, "product_unavailable", None),
    ({"items": []}, "validation_failed", "items"),
    ({"items": [{"product_code": "TSEL10"}]}, "validation_failed", "items[0].target"),
    ({"items": [PHONE], "extra": 1}, "validation_failed", "extra"),
    ({"items": [PHONE], "promo_code": "NOPE"}, "promo_unknown", "promo_code"),
]


@pytest.mark.parametrize(("body", "code", "field"), INVALID)
def test_a_rejected_order_is_a_problem_naming_the_field_and_writes_nothing(db, api, body, code, field):
    auth = api.sign_in()
    before = written(db)
    r = api.order(auth, body)
    problem = assert_problem(r, 409 if code == "product_unavailable" else 422, code, field)
    assert len(problem["detail"]) > 10
    assert written(db) == before == (0, 0, 0, 0, 0)


def test_an_order_without_an_idempotency_key_is_refused_and_writes_nothing(db, api):
    r = httpx.post(f"{api.base}/api/v1/orders", json={"items": [PHONE]}, headers=api.sign_in())
    assert_problem(r, 422, "validation_failed", "Idempotency-Key")
    assert written(db) == (0, 0, 0, 0, 0)


# --- orders ------------------------------------------------------------------------------------------------


def test_placing_an_order_returns_it_with_its_checkout_url(db, api):
    r = api.order(api.sign_in(), {"items": [PHONE, PLN]})
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["status"], order["amount_twd"], len(order["items"])) == ("PENDING", 70, 2)
    assert order["checkout_url"] == f"{api.base}/ecpay/checkout/{order['reference']}"
    assert count(db, OutboxMessage, OutboxMessage.topic == "check_payment") == 1
    handoff = httpx.get(order["checkout_url"])
    assert handoff.status_code == 200 and 'name="MerchantTradeNo"' in handoff.text


def test_replaying_an_idempotency_key_returns_the_same_order_once(db, api):
    auth = api.sign_in()
    first = api.order(auth, key="attempt-1")
    again = api.order(auth, key="attempt-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert count(db, Payment) == 1


def test_reusing_an_idempotency_key_for_another_order_is_a_409(db, api):
    auth = api.sign_in()
    assert api.order(auth, key="attempt-1").status_code == 201
    r = api.order(auth, {"items": [PLN]}, key="attempt-1")
    assert_problem(r, 409, "idempotency_conflict", "Idempotency-Key")
    assert count(db, Payment) == 1


def test_another_customers_order_is_a_404_exactly_like_a_missing_one(db, api):
    alice, bob = api.sign_in("U-alice"), api.sign_in("U-bob")
    order_id = api.order(alice).json()["id"]
    missing_id = order_id + 1000
    for path in ("", "/checkout"):
        theirs = httpx.get(f"{api.base}/api/v1/orders/{order_id}{path}", headers=bob)
        missing = httpx.get(f"{api.base}/api/v1/orders/{missing_id}{path}", headers=bob)
        a = assert_problem(theirs, 404, "order_not_found")
        b = assert_problem(missing, 404, "order_not_found")
        assert a["detail"].replace(f"order {order_id}", "order N") == b["detail"].replace(
            f"order {missing_id}", "order N"
        )
    assert httpx.get(f"{api.base}/api/v1/orders/{order_id}", headers=alice).status_code == 200


def test_the_order_list_is_ones_own_newest_first_and_paged(api):
    alice, bob = api.sign_in("U-alice"), api.sign_in("U-bob")
    mine = [api.order(alice).json()["id"] for _ in range(5)]
    api.order(bob)
    page1 = httpx.get(f"{api.base}/api/v1/orders", params={"limit": 2}, headers=alice).json()
    page2 = httpx.get(
        f"{api.base}/api/v1/orders", params={"limit": 2, "before": page1["next_before"]}, headers=alice
    ).json()
    page3 = httpx.get(
        f"{api.base}/api/v1/orders", params={"limit": 2, "before": page2["next_before"]}, headers=alice
    ).json()
    seen = [o["id"] for p in (page1, page2, page3) for o in p["orders"]]
    assert seen == sorted(mine, reverse=True)
    assert page3["next_before"] is None


def test_checkout_hands_off_to_ecpay_only_while_the_order_waits_for_payment(db, api):
    auth = api.sign_in()
    order = api.order(auth).json()
    r = httpx.get(f"{api.base}/api/v1/orders/{order['id']}/checkout", headers=auth)
    assert r.status_code == 200
    assert r.json()["checkout_url"] == order["checkout_url"] and r.json()["amount_twd"] == 25
    with db.begin() as conn:
        conn.execute(text("UPDATE payments SET status = 'EXPIRED' WHERE id = :id"), {"id": order["id"]})
    r = httpx.get(f"{api.base}/api/v1/orders/{order['id']}/checkout", headers=auth)
    assert_problem(r, 409, "order_not_payable")
    assert httpx.get(f"{api.base}/api/v1/orders/{order['id']}", headers=auth).json()["checkout_url"] is None


def test_the_order_answers_in_bahasa_indonesia_unless_the_customer_asks_otherwise(api):
    auth = api.sign_in()
    # Given an order placed by a customer whose browser prefers English
    placed = api.order({**auth, "Accept-Language": "en-US,en;q=0.9"})
    assert placed.status_code == 201, placed.text
    assert (placed.json()["status_text"], placed.json()["items"][0]["status_text"]) == (
        "Waiting for your payment",
        "Waiting for payment",
    )
    url = f"{api.base}/api/v1/orders/{placed.json()['id']}"

    # When it is read without saying a language, Bahasa Indonesia; with Accept-Language, that language
    default = httpx.get(url, headers=auth)
    english = httpx.get(url, headers={**auth, "Accept-Language": "en"})
    chinese = httpx.get(url, headers={**auth, "Accept-Language": "zh-TW,zh;q=0.9"})
    listed = httpx.get(f"{api.base}/api/v1/orders", headers={**auth, "Accept-Language": "en"})

    # Then every status is worded in it, and nothing is final while the order waits for payment
    assert default.headers["content-language"] == "id" and "Accept-Language" in default.headers["vary"]
    order = default.json()
    assert (order["status"], order["status_text"], order["final"]) == (
        "PENDING",
        "Menunggu pembayaran Anda",
        False,
    )
    assert [(i["status_text"], i["final"]) for i in order["items"]] == [("Menunggu pembayaran", False)]
    assert english.headers["content-language"] == "en"
    assert english.json()["status_text"] == "Waiting for your payment"
    assert english.json()["items"][0]["status_text"] == "Waiting for payment"
    assert chinese.json()["status_text"] == "等待付款"
    assert listed.json()["orders"][0]["status_text"] == "Waiting for your payment"


def test_a_paid_orders_waiting_item_reads_queued_and_a_delivered_order_is_final(db, api):
    auth = {**api.sign_in(), "Accept-Language": "en"}
    order_id = api.order(auth).json()["id"]
    url = f"{api.base}/api/v1/orders/{order_id}"
    # Given the money has arrived but no worker has taken the item yet
    with db.begin() as conn:
        conn.execute(
            text("UPDATE payments SET status = 'PAID', paid_at = now() WHERE id = :id"), {"id": order_id}
        )
    paid = httpx.get(url, headers=auth).json()
    assert (paid["status_text"], paid["final"]) == ("Paid: your top-up is being delivered", False)
    assert paid["items"][0]["status_text"] == "Queued for delivery"

    # When the item is delivered and the payment settles
    with db.begin() as conn:
        conn.execute(
            text("UPDATE payment_items SET status = 'SUCCESS' WHERE payment_id = :id"), {"id": order_id}
        )
        conn.execute(text("UPDATE payments SET status = 'SUCCESS' WHERE id = :id"), {"id": order_id})
    done = httpx.get(url, headers=auth).json()

    # Then both say so, and the Mini App may stop polling
    assert (done["status_text"], done["final"]) == ("Delivered", True)
    assert [(i["status_text"], i["final"]) for i in done["items"]] == [("Delivered", True)]


# --- rate limits, CORS, request ids -------------------------------------------------------------------------


def _clear_of_a_window_boundary(window_s: int = 60, margin_s: float = 10) -> None:
    """The limits count in fixed windows: requests that straddle a boundary are counted in two windows. Start
    a counted burst only with `margin_s` left in the current one."""
    left = window_s - time.time() % window_s
    if left < margin_s:
        time.sleep(left + 0.1)


def test_a_customer_over_the_limit_gets_429_with_retry_after(db, redis_url, redis_client, run_asgi):
    factories.catalog(db)
    api = build_api(db, redis_url, run_asgi, customer_per_window=3, address_per_window=1000)
    alice, bob = api.sign_in("U-alice"), api.sign_in("U-bob")
    _clear_of_a_window_boundary()
    answers = [httpx.get(f"{api.base}/api/v1/orders", headers=alice).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    r = httpx.get(f"{api.base}/api/v1/orders", headers=alice)
    assert_problem(r, 429, "rate_limited")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert httpx.get(f"{api.base}/api/v1/orders", headers=bob).status_code == 200  # per customer


def test_an_address_over_the_limit_gets_429_even_without_signing_in(db, redis_url, redis_client, run_asgi):
    factories.catalog(db)
    api = build_api(db, redis_url, run_asgi, address_per_window=2)
    answers = [httpx.get(f"{api.base}/api/v1/catalog").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert redis_client.keys("esa:ratelimit:address:127.0.0.1:*")


def test_signed_in_and_refused_calls_alike_count_against_the_address(db, redis_url, redis_client, run_asgi):
    factories.catalog(db)
    api = build_api(db, redis_url, run_asgi, address_per_window=4, customer_per_window=1000)
    alice = api.sign_in("U-alice")  # 1: the sign-in itself
    unsigned = [httpx.get(f"{api.base}/api/v1/orders").status_code for _ in range(2)]  # 2, 3
    signed = [httpx.get(f"{api.base}/api/v1/orders", headers=alice).status_code for _ in range(2)]  # 4, 5
    assert unsigned == [401, 401]
    assert signed == [200, 429]
    assert redis_client.get(next(iter(redis_client.keys("esa:ratelimit:customer:*")))) == b"2"


def test_cors_allows_the_mini_app_origin_and_no_other(api):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,idempotency-key,content-type",
    }
    ok = httpx.options(f"{api.base}/api/v1/orders", headers={"Origin": ORIGIN, **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "idempotency-key" in ok.headers["access-control-allow-headers"].lower()
    other = httpx.options(f"{api.base}/api/v1/orders", headers={"Origin": "https://evil.test", **preflight})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    simple = httpx.get(f"{api.base}/api/v1/catalog", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


def test_every_response_carries_a_request_id_that_is_also_in_the_logs(api, caplog):
    caplog.set_level(logging.INFO, logger="esa_api.access")
    given = httpx.get(f"{api.base}/api/v1/catalog", headers={"X-Request-ID": "mini-app-1234abcd"})
    assert given.headers["x-request-id"] == "mini-app-1234abcd"
    insane = httpx.get(f"{api.base}/api/v1/catalog", headers={"X-Request-ID": "bad id\twith spaces"})
    assert (
        insane.headers["x-request-id"] != "bad id\twith spaces" and len(insane.headers["x-request-id"]) == 32
    )
    missing = httpx.get(f"{api.base}/api/v1/orders/1")
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    assert httpx.get(f"{api.base}/api/health").headers["x-request-id"]
    ids = {getattr(r, "request_id", None) for r in caplog.records if r.name == "esa_api.access"}
    assert {"mini-app-1234abcd", insane.headers["x-request-id"]} <= ids


def test_unknown_api_paths_answer_problem_json(api):
    assert_problem(httpx.get(f"{api.base}/api/v1/nothing-here"), 404, "not_found")
