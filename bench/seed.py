"""Benchmark data: the demo catalog, customers with bearer tokens, and N historical payments bulk-loaded with
INSERT … SELECT generate_series (items, history, attempts, exchanges, gateway events), a realistic status mix
where only a few hundred orders are still open."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

OPEN_ZONE = 400  # the newest 400 payments: ~300 of them still open, the rest just delivered
CHUNK = 50_000


@dataclass(frozen=True)
class Loaded:
    payments: int
    items: int
    history: int
    open_payments: int
    seconds: float


def catalog(engine: Engine) -> None:
    """The demo catalog, FX rate, promos and operators through the project's own seed (no demo orders)."""
    from esa_domain.infra.db import UnitOfWork
    from sandbox.demo_data import seed

    seed(lambda: UnitOfWork(engine), say=lambda _m: None, orders=0)


def customers(engine: Engine, count: int, secret: str) -> list[tuple[int, str]]:
    """`count` customers who place the load's orders, each with a bearer token signed with `secret`."""
    from esa_domain.ordering.customers import issue_token

    with engine.begin() as conn:
        ids = (
            conn.execute(
                text(
                    "INSERT INTO customers (line_user_id, display_name, created_at) "
                    "SELECT 'Uload' || g, 'Load ' || g, now() "
                    "FROM generate_series(1, CAST(:n AS bigint)) g RETURNING id"
                ),
                {"n": count},
            )
            .scalars()
            .all()
        )
    return [(cid, issue_token(cid, secret.encode())[0]) for cid in ids]


_PAYMENTS = """
INSERT INTO payments (id, merchant_trade_no, customer_id, status, subtotal_twd, discount_twd, amount_twd,
    fx_rate_id, fx_rate, cost_idr, cost_twd, idempotency_key, request_hash, payment_method, ecpay_trade_no,
    paid_amount_twd, paid_at, expires_at, refunded_twd, created_at, updated_at)
SELECT g, 'H' || lpad(g::text, 19, '0'), :c0 + (g % :nc), s.status, s.amount, 0, s.amount,
    :fx, :rate, s.cost, round(s.cost * :rate, 4), 'h-' || g, md5(g::text) || md5(g::text),
    CASE WHEN q.paid THEN 'Credit_CreditCard' END, CASE WHEN q.paid THEN 'T' || g END,
    CASE WHEN q.paid THEN s.amount END, CASE WHEN q.paid THEN s.at + interval '1 minute' END,
    s.at + interval '30 minutes', CASE WHEN s.status = 'REFUNDED' THEN s.amount ELSE 0 END,
    s.at, s.at + interval '2 minutes'
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g
CROSS JOIN LATERAL (SELECT
    CASE WHEN g > :n - 400 AND g <= :n - 300 THEN 'PENDING'
         WHEN g > :n - 300 AND g <= :n - 80 THEN 'PAID'
         WHEN g > :n - 80 THEN 'SUCCESS'
         WHEN g % 100 < 2 THEN 'EXPIRED'
         WHEN g % 100 = 2 THEN 'REFUNDED'
         ELSE 'SUCCESS' END AS status,
    CASE WHEN g % 10 = 5 AND g <= :n - 400 THEN 50 ELSE 25 END AS amount,
    CASE WHEN g % 10 = 5 AND g <= :n - 400 THEN 20300 ELSE 10150 END AS cost,
    CASE WHEN g <= :n - 400
         THEN now() - interval '1 hour' - (:n - 400 - g) * (interval '365 days' / CAST(:n AS float8))
         ELSE now() - (:n - g) * interval '9 seconds' END AS at
) s
CROSS JOIN LATERAL (SELECT s.status IN ('PAID', 'SUCCESS', 'REFUNDED') AS paid) q
"""

# one item per payment (id = payment id), a second one on every tenth historical payment (id = n + payment id)
_ITEMS = """
INSERT INTO payment_items (id, payment_id, product_id, target, status, price_twd, cost_idr, artifact,
    failure_reason, deadline_at, next_check_at, created_at, updated_at)
SELECT x.item_id, p.id, CASE WHEN x.second THEN :p2 ELSE :p1 END,
    '0812' || lpad((p.id % 100000000)::text, 8, '0'), st.status, 25, 10150,
    CASE WHEN st.status = 'SUCCESS' THEN 'SN' || x.item_id END,
    CASE WHEN st.status = 'FAILED' THEN 'nomor tujuan salah' END,
    CASE WHEN st.status IN ('SUPPLIER_PENDING', 'NEEDS_REVIEW') THEN p.created_at + interval '2 hours' END,
    CASE WHEN st.status = 'SUPPLIER_PENDING' THEN p.created_at + interval '3 minutes' END,
    p.created_at, p.created_at + interval '90 seconds'
FROM payments p
CROSS JOIN LATERAL (VALUES (p.id, false), (:n + p.id, true)) AS x(item_id, second)
CROSS JOIN LATERAL (SELECT CASE
    WHEN p.status IN ('PENDING', 'EXPIRED') THEN 'PENDING'
    WHEN p.status = 'REFUNDED' THEN 'FAILED'
    WHEN p.status = 'SUCCESS' THEN 'SUCCESS'
    WHEN p.id <= :n - 250 THEN 'PENDING'
    WHEN p.id <= :n - 200 THEN 'PROCESSING'
    WHEN p.id <= :n - 100 THEN 'SUPPLIER_PENDING'
    ELSE 'NEEDS_REVIEW' END AS status) st
WHERE p.id BETWEEN :lo AND :hi AND (NOT x.second OR (p.id % 10 = 5 AND p.id <= :n - 400))
"""

# the transitions of each payment and item, as place_order, the notification and the worker write them
_HISTORY = """
INSERT INTO payment_history (payment_id, item_id, from_status, to_status, cause, actor, created_at)
SELECT p.id, NULL, NULL, 'PENDING', 'order placed', 'system:orders', p.created_at
  FROM payments p WHERE p.id BETWEEN :lo AND :hi
UNION ALL
SELECT i.payment_id, i.id, NULL, 'PENDING', 'order placed', 'system:orders', i.created_at
  FROM payment_items i WHERE i.payment_id BETWEEN :lo AND :hi
UNION ALL
SELECT p.id, NULL, 'PENDING', 'PAID',
       'ECPay notification: paid NT$' || p.amount_twd || ' (Credit_CreditCard)',
       'ecpay', p.paid_at
  FROM payments p WHERE p.id BETWEEN :lo AND :hi AND p.paid_at IS NOT NULL
UNION ALL
SELECT p.id, NULL, 'PENDING', 'EXPIRED', 'ECPay query: not paid in time', 'system:reconciler', p.updated_at
  FROM payments p WHERE p.id BETWEEN :lo AND :hi AND p.status = 'EXPIRED'
UNION ALL
SELECT i.payment_id, i.id, 'PENDING', 'PROCESSING', 'paid: fulfil', 'system:fulfillment',
       i.created_at + interval '61 seconds'
  FROM payment_items i WHERE i.payment_id BETWEEN :lo AND :hi AND i.status NOT IN ('PENDING')
UNION ALL
SELECT i.payment_id, i.id, 'PROCESSING', i.status, 'pulsaif purchase: ' || i.status, 'supplier:pulsaif',
       i.updated_at
  FROM payment_items i WHERE i.payment_id BETWEEN :lo AND :hi
   AND i.status IN ('SUCCESS', 'FAILED', 'SUPPLIER_PENDING', 'NEEDS_REVIEW')
UNION ALL
SELECT p.id, NULL, 'PAID', 'SUCCESS', 'every item delivered', 'system:fulfillment', p.updated_at
  FROM payments p WHERE p.id BETWEEN :lo AND :hi AND p.status = 'SUCCESS'
UNION ALL
SELECT p.id, NULL, v.f, v.t, v.cause, 'system:refunds', p.updated_at
  FROM payments p CROSS JOIN (VALUES ('PAID', 'FAILED', 'no item delivered'),
                                     ('FAILED', 'REFUND_PENDING', 'refund started'),
                                     ('REFUND_PENDING', 'REFUNDED', 'ECPay refund done')) v(f, t, cause)
 WHERE p.id BETWEEN :lo AND :hi AND p.status = 'REFUNDED'
"""

_ATTEMPTS = """
INSERT INTO item_attempts (item_id, supplier_id, reference, state, failure_class, supplier_code,
    supplier_txn_id,
    message, cost_idr, cost_twd, request_json, response_json, latency_ms, checks, next_check_at, created_at,
    finished_at)
SELECT i.id, :sup, 'ESA' || i.id || 'S' || :sup,
    CASE i.status WHEN 'SUCCESS' THEN 'SUCCESS' WHEN 'FAILED' THEN 'FAILED' WHEN 'PROCESSING' THEN 'SENDING'
                  WHEN 'SUPPLIER_PENDING' THEN 'PENDING' ELSE 'UNKNOWN' END,
    CASE WHEN i.status = 'FAILED' THEN 'customer' END, '20', 'PIF' || i.id, 'ok', i.cost_idr, 20.3000,
    jsonb_build_object('refid', 'ESA' || i.id || 'S' || :sup, 'product', 'S10', 'dest', i.target),
    jsonb_build_object('body', 'R#ESA' || i.id || ' S10.' || i.target || ' SUKSES. SN: ' || i.id),
    120, 0, i.next_check_at, i.created_at + interval '61 seconds',
    CASE WHEN i.status IN ('SUCCESS', 'FAILED') THEN i.updated_at END
FROM payment_items i WHERE i.payment_id BETWEEN :lo AND :hi AND i.status <> 'PENDING'
"""

_EXCHANGES = """
INSERT INTO supplier_exchanges (supplier_id, attempt_id, operation, method, url, request_json, response_json,
    http_status, latency_ms, created_at)
SELECT a.supplier_id, a.id, 'purchase', 'GET', 'https://pulsaif.example/trx', a.request_json, a.response_json,
    200, a.latency_ms, a.created_at
FROM item_attempts a WHERE a.id > :after
"""

_EVENTS = """
INSERT INTO gateway_events (payment_id, merchant_trade_no, kind, fields, verified, outcome, remote_addr,
    received_at)
SELECT p.id, p.merchant_trade_no, 'notification',
    jsonb_build_object('MerchantID', '3002607', 'MerchantTradeNo', p.merchant_trade_no, 'RtnCode', '1',
                       'TradeAmt', p.amount_twd::text, 'TradeNo', p.ecpay_trade_no,
                       'CheckMacValue', '[redacted]'),
    true, 'accepted', '175.99.72.1', p.paid_at
FROM payments p WHERE p.id BETWEEN :lo AND :hi AND p.paid_at IS NOT NULL
"""


def history(engine: Engine, n: int, progress: Callable[[str], None]) -> Loaded:
    """Bulk-load `n` historical payments with ids 1..n (call before any other payment exists)."""
    started = time.monotonic()
    with engine.begin() as conn:
        nc = conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
        c0 = conn.execute(text("SELECT min(id) FROM customers")).scalar_one()
        fx, rate = conn.execute(text("SELECT id, rate FROM fx_rates ORDER BY id DESC LIMIT 1")).one()
        p1, p2 = (
            conn.execute(
                text(
                    "SELECT id FROM products WHERE target_kind = 'phone' "
                    "ORDER BY (code = 'TSEL10') DESC, id LIMIT 2"
                )
            )
            .scalars()
            .all()
        )
        sup = conn.execute(text("SELECT id FROM suppliers WHERE code = 'pulsaif'")).scalar_one()
    done = 0
    for lo in range(1, n + 1, CHUNK):
        hi = min(n, lo + CHUNK - 1)
        params = {
            "lo": lo,
            "hi": hi,
            "n": n,
            "c0": c0,
            "nc": nc,
            "fx": fx,
            "rate": rate,
            "p1": p1,
            "p2": p2,
            "sup": sup,
        }
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            after = conn.execute(text("SELECT coalesce(max(id), 0) FROM item_attempts")).scalar_one()
            for sql in (_PAYMENTS, _ITEMS, _HISTORY, _ATTEMPTS):
                conn.execute(text(sql), params)
            conn.execute(text(_EXCHANGES), {"after": after})
            conn.execute(text(_EVENTS), params)
        done = hi
        rate_s = done / max(time.monotonic() - started, 1e-9)
        progress(f"seeding {n:,} payments: {100 * done // n}% ({done:,}, {rate_s:,.0f} payments/s)")
    with engine.begin() as conn:
        for table in ("payments", "payment_items"):
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
        counts = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM payment_items), "
                "(SELECT count(*) FROM payment_history), "
                "(SELECT count(*) FROM payments WHERE status IN ('PENDING', 'PAID', 'FAILED', 'PARTIAL', "
                "'REFUND_PENDING', 'NEEDS_REVIEW'))"
            )
        ).one()
    progress("analyzing the tables …")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return Loaded(counts[0], counts[1], counts[2], counts[3], time.monotonic() - started)


_PENDING = """
WITH p AS (
    INSERT INTO payments (merchant_trade_no, customer_id, status, subtotal_twd, discount_twd, amount_twd,
        fx_rate_id, fx_rate, cost_idr, cost_twd, idempotency_key, request_hash, expires_at, created_at)
    SELECT 'B' || to_char(now(), 'YYMMDD') || lpad((:base + g)::text, 13, '0'), :c0 + (g % :nc), 'PENDING',
        25, 0, 25, :fx, :rate, 10150, round(10150 * :rate, 4), 'bench-' || (:base + g), md5(g::text),
        now() + interval '30 minutes', now()
    FROM generate_series(1, CAST(:count AS bigint)) g
    RETURNING id, merchant_trade_no, amount_twd
), i AS (
    INSERT INTO payment_items (payment_id, product_id, target, status, price_twd, cost_idr, created_at)
    -- ending in 00: the simulators read a behaviour from the last four digits (99xx), and these must succeed
    SELECT p.id, :p1, '0812' || lpad((p.id % 1000000)::text, 6, '0') || '00', 'PENDING', 25, 10150, now() FROM p
    RETURNING id, payment_id
), h AS (
    INSERT INTO payment_history (payment_id, item_id, to_status, cause, actor, created_at)
    SELECT p.id, NULL, 'PENDING', 'order placed', 'system:orders', now() FROM p
    UNION ALL SELECT i.payment_id, i.id, 'PENDING', 'order placed', 'system:orders', now() FROM i
), o AS (
    INSERT INTO outbox (topic, payload, created_at, available_at, dispatched_at, dispatch_attempts)
    SELECT 'check_payment', jsonb_build_object('payment_id', p.id), now(), now() + interval '31 minutes',
        now(), 1
    FROM p
)
SELECT id, merchant_trade_no, amount_twd FROM p ORDER BY id
"""


def pending_orders(engine: Engine, count: int, base: int = 0) -> list[tuple[int, str, int]]:
    """`count` fresh PENDING one-item orders, written as place_order writes them (payment, item, history,
    outbox),
    for the notification phase; returns (payment id, MerchantTradeNo, amount)."""
    with engine.begin() as conn:
        nc = conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
        c0 = conn.execute(text("SELECT min(id) FROM customers")).scalar_one()
        fx, rate = conn.execute(text("SELECT id, rate FROM fx_rates ORDER BY id DESC LIMIT 1")).one()
        p1 = conn.execute(text("SELECT id FROM products WHERE code = 'TSEL10'")).scalar_one()
        rows = conn.execute(
            text(_PENDING),
            {"count": count, "base": base, "c0": c0, "nc": nc, "fx": fx, "rate": rate, "p1": p1},
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]
