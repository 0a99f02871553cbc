"""The web edge as an attacker meets it, over HTTP (uvicorn, or httpx's ASGI transport where the test must choose
the peer's address): body limits, bounded storage of unsigned posts, security headers, CORS, trusted proxies."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text

from esa_api import create_app
from esa_api.customer.config import CustomerApiConfig
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from tests import factories
from workers.publisher import DramatiqPublisher

MB = 1024 * 1024
EVIL = "https://evil.test"
MINIAPP = "https://miniapp.test"


def _app(db, redis_url, *, public_url="http://127.0.0.1:3000", address_per_window=120, **settings):
    app = create_app()
    cfg = Settings(database_url="x", redis_url=redis_url, ESA_PUBLIC_URL=public_url, **settings)
    app.state.runtime = Runtime(cfg, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    app.state.customer_config = CustomerApiConfig(
        token_secret=b"t" * 32, cors_origins=(MINIAPP,), address_per_window=address_per_window
    )
    return app


def _events(db) -> list:
    with db.connect() as c:
        return c.execute(
            text("SELECT merchant_trade_no, fields, outcome, remote_addr FROM gateway_events ORDER BY id")
        ).all()


def _unsigned_notice(**over: str) -> dict[str, str]:
    fields = {
        "MerchantID": "3002607",
        "MerchantTradeNo": "ESA00000000000000001",
        "RtnCode": "1",
        "TradeAmt": "100",
        "CheckMacValue": "0" * 64,
    }
    return {**fields, **over}


def _via(app, peer: str, method: str, path: str, **kw) -> httpx.Response:
    """One request from `peer` (the direct TCP peer the server sees)."""
    return _many(app, [(peer, method, path, kw)])[0]


def _many(app, calls: list[tuple[str, str, str, dict]]) -> list[httpx.Response]:
    """Requests in turn, each from its peer, in one event loop (the app's Redis client is bound to it)."""

    async def go() -> list[httpx.Response]:
        out = []
        for peer, method, path, kw in calls:
            transport = httpx.ASGITransport(app=app, client=(peer, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://esa.test") as client:
                out.append(await client.request(method, path, **kw))
        return out

    return asyncio.run(go())


# --- bodies: sizes and what is stored -------------------------------------------------------------------------


def test_an_unsigned_notification_with_a_41_character_trade_no_is_400_and_its_row_bounded(
    db, redis_url, run_asgi
):
    base = run_asgi(_app(db, redis_url))
    r = httpx.post(f"{base}/ecpay/return", data=_unsigned_notice(MerchantTradeNo="A" * 41))
    assert r.status_code == 400, r.text
    assert r.text.startswith("0|")
    [(trade_no, fields, outcome, _)] = _events(db)
    assert trade_no == "A" * 40
    assert fields["MerchantTradeNo"] == "A" * 41  # the document keeps it (fields are clipped much later)
    assert outcome.startswith("rejected")


def test_a_2_mb_field_of_an_unsigned_notification_is_stored_clipped(db, redis_url, run_asgi):
    # Given limits raised past 2 MB (the defaults refuse such a post outright: the next test)
    app = _app(db, redis_url, ESA_MAX_BODY_BYTES=4 * MB, ESA_MAX_NOTIFICATION_BODY_BYTES=4 * MB)
    base = run_asgi(app)
    r = httpx.post(f"{base}/ecpay/return", data=_unsigned_notice(RtnMsg="x" * (2 * MB)))
    assert r.status_code == 400
    [(_, fields, _, _)] = _events(db)
    assert fields["RtnMsg"].startswith("x" * 1000) and fields["RtnMsg"].endswith("more characters]")
    assert len(json.dumps(fields)) < 20_000


def test_an_unsigned_notification_of_many_fields_is_stored_capped(db, redis_url, run_asgi):
    base = run_asgi(_app(db, redis_url))
    many = {f"F{i}": "y" * 900 for i in range(60)}  # 54 KB: under the notification limit
    r = httpx.post(f"{base}/ecpay/return", data=_unsigned_notice(**many))
    assert r.status_code == 400
    [(_, fields, _, _)] = _events(db)
    assert len(json.dumps(fields)) < 20_000


@pytest.mark.parametrize("path", ["/ecpay/return", "/callbacks/iak", "/api/v1/auth/line"])
def test_a_5_mb_body_with_its_length_declared_is_413_problem_json_and_writes_nothing(
    db, redis_url, run_asgi, path
):
    base = run_asgi(_app(db, redis_url))
    body = b"a=" + b"x" * (5 * MB)
    try:
        r = httpx.post(
            f"{base}{path}", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    except httpx.TransportError:  # the server may close while the client still writes; then nothing was read
        r = None
    if r is not None:
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "payload_too_large" and problem["status"] == 413
        assert "bytes" in problem["detail"]
    assert _events(db) == []


def _chunks(pulled: list[int], total: int, size: int = 64 * 1024):
    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            pulled.append(size)
            sent += size
            yield b"x" * size

    return gen()


@pytest.mark.parametrize(
    ("path", "limit"), [("/ecpay/return", 64 * 1024), ("/callbacks/iak", 64 * 1024), ("/api/v1/orders", MB)]
)
def test_a_5_mb_chunked_body_is_413_after_the_limit_not_read_whole(db, redis_url, path, limit):
    app = _app(db, redis_url)
    pulled: list[int] = []
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x", "Idempotency-Key": "k-1"}
    r = _via(app, "198.51.100.7", "POST", path, content=_chunks(pulled, 5 * MB), headers=headers)
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "payload_too_large"
    assert sum(pulled) <= limit + 64 * 1024  # it stopped reading at the limit
    assert _events(db) == []


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the message and any traceback, as a log file would get them


def test_oversized_values_never_reach_a_log_line(db, redis_url, run_asgi):
    base = run_asgi(_app(db, redis_url))
    names = ("esa_api", "esa_domain")  # on the loggers themselves: other suites may reconfigure the root
    lines, saved = _Lines(), []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled))
        logger.addHandler(lines), logger.setLevel(logging.DEBUG)
        logger.disabled = False
    try:
        httpx.post(
            f"{base}/ecpay/return",
            data=_unsigned_notice(MerchantID="M" * 20_000, MerchantTradeNo="T" * 20_000),  # under the limit
        )
        httpx.post(f"{base}/callbacks/{'s' * 5000}", content=b"{}")
    finally:
        for logger, level, disabled in saved:
            logger.removeHandler(lines), logger.setLevel(level)
            logger.disabled = disabled
    assert any("rejected" in line for line in lines.lines)
    for sent in ("M" * 300, "T" * 300, "s" * 300):  # what was sent shows, if at all, cut short
        assert not any(sent in line for line in lines.lines)


# --- security headers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/catalog", "/api/openapi.json", "/ecpay/result/NOPE", "/nowhere"])
def test_api_and_ecpay_pages_are_never_framed_and_never_sniffed(db, redis_url, run_asgi, path):
    factories.catalog(db)
    base = run_asgi(_app(db, redis_url))
    r = httpx.get(f"{base}{path}")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in r.headers  # plain http: HSTS would be a lie


def test_the_mini_app_may_be_framed_by_line_only(db, redis_url, run_asgi):
    base = run_asgi(_app(db, redis_url))
    r = httpx.get(f"{base}/app/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors https://*.line.me https://liff.line.me;" in csp
    assert "x-frame-options" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


def test_hsts_is_sent_when_our_public_url_is_https(db, redis_url, run_asgi):
    base = run_asgi(_app(db, redis_url, public_url="https://esa.example"))
    r = httpx.get(f"{base}/api/v1/catalog")
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_a_413_and_a_cors_refusal_carry_the_headers_too(db, redis_url, run_asgi):
    base = run_asgi(_app(db, redis_url))
    r = httpx.post(f"{base}/api/v1/orders", content=b"x" * (2 * MB))
    assert r.status_code == 413 and r.headers["x-frame-options"] == "DENY"
    preflight = {"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    r = httpx.options(f"{base}/api/v1/orders", headers=preflight)
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


# --- the client's address behind a proxy ------------------------------------------------------------------------


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(db, redis_url, redis_client):
    app = _app(db, redis_url, ESA_TRUSTED_PROXIES="10.0.0.1")
    factories.catalog(db)
    r = _via(app, "198.51.100.7", "GET", "/api/v1/catalog", headers={"X-Forwarded-For": "203.0.113.5"})
    assert r.status_code == 200
    keys = {k.decode() for k in redis_client.keys("esa:ratelimit:address:*")}
    assert [k.split(":")[3] for k in keys] == ["198.51.100.7"]


def test_two_clients_behind_one_trusted_proxy_get_their_own_rate_limit_buckets(db, redis_url, redis_client):
    app = _app(db, redis_url, ESA_TRUSTED_PROXIES="10.0.0.0/24, 10.1.0.1", address_per_window=2)
    factories.catalog(db)

    def call(client: str) -> tuple:
        # the client, then its own proxy (untrusted, spoofable), then our two proxies in turn
        xff = f"6.6.6.6, {client}, 10.1.0.1"
        return ("10.0.0.9", "GET", "/api/v1/catalog", {"headers": {"X-Forwarded-For": xff}})

    a, b = "203.0.113.5", "203.0.113.6"
    statuses = [r.status_code for r in _many(app, [call(a), call(a), call(b), call(b), call(a)])]
    assert statuses == [200, 200, 200, 200, 429]  # the second client is not in the first one's bucket
    keys = {k.decode().split(":")[3] for k in redis_client.keys("esa:ratelimit:address:*")}
    assert keys == {"203.0.113.5", "203.0.113.6"}


def test_an_ecpay_notification_through_a_trusted_proxy_records_the_real_sender(db, redis_url):
    app = _app(db, redis_url, ESA_TRUSTED_PROXIES="10.0.0.1")
    post = {"data": _unsigned_notice(), "headers": {"X-Forwarded-For": "192.0.2.44"}}
    calls = [("10.0.0.1", "POST", "/ecpay/return", post), ("198.51.100.7", "POST", "/ecpay/return", post)]
    assert [r.status_code for r in _many(app, calls)] == [400, 400]
    assert [e.remote_addr for e in _events(db)] == ["192.0.2.44", "198.51.100.7"]


def test_a_forwarded_for_that_is_not_an_address_keeps_the_proxys_view(db, redis_url):
    app = _app(db, redis_url, ESA_TRUSTED_PROXIES="10.0.0.1")
    headers = {"X-Forwarded-For": "x" * 500}
    _via(app, "10.0.0.1", "POST", "/ecpay/return", data=_unsigned_notice(), headers=headers)
    assert [e.remote_addr for e in _events(db)] == ["10.0.0.1"]


def test_trusted_proxies_must_be_addresses_or_networks():
    with pytest.raises(ValueError, match="ESA_TRUSTED_PROXIES"):
        Settings(ESA_TRUSTED_PROXIES="10.0.0.1, proxy.internal")
