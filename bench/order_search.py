"""The dashboard's order search on ~100k orders: EXPLAIN ANALYZE of esa_domain.views.orders.search_orders' query for
each kind of thing a person searches by, with and without migration 0016's indexes, and (given --old COMMIT) of
the query as that commit built it.

    python -m bench.order_search postgresql://postgres@127.0.0.1:5432/postgres [--old 9dd217e] [--plans]

A throwaway database (esa_bench_search_<random>) is created on that server, migrated to head, filled with
generate_series (20k customers, 100k orders of one item with one supplier attempt each), measured and dropped.
Each time is the median Execution Time of the last five of seven EXPLAIN ANALYZE runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent

FILL = """
INSERT INTO suppliers (code, name, enabled, consecutive_failures) VALUES ('iak', 'IAK', true, 0);
INSERT INTO product_categories (code, name, kind, is_game, sort_order) VALUES ('pulsa', 'Pulsa', 'prepaid', false, 0);
INSERT INTO products (code, category_id, name, price_twd, target_kind, active)
VALUES ('TSEL10', 1, 'Telkomsel 10.000', 25, 'phone', true);
INSERT INTO customers (line_user_id, display_name, created_at)
SELECT 'U' || md5('c' || g),
       (ARRAY['Budi','Siti','Dewi','Agus','Rina','Andi','Putri','Joko','Sri','Wahyu','Ayu','Eko','Fitri','Hendra',
              'Indah','Yusuf','Lestari','Bayu','Nur','Rizki'])[1 + (g * 7) % 20]
       || ' ' ||
       (ARRAY['Santoso','Rahmawati','Wijaya','Saputra','Hidayat','Kusuma','Pratama','Lestari','Nugroho','Setiawan',
              'Halim','Gunawan','Susanto','Purnomo','Hartono','Siregar','Nasution','Simanjuntak','Tanjung','Lubis'])
       [1 + (g * 13 / 20) % 20]
       || CASE WHEN g % 3 = 0 THEN ' ' || g ELSE '' END,
       now() - interval '400 days' + g * interval '20 minutes'
FROM generate_series(1, 20000) g;
INSERT INTO payments (merchant_trade_no, customer_id, status, subtotal_twd, discount_twd, amount_twd, fx_rate,
                      cost_idr, cost_twd, idempotency_key, request_hash, expires_at, created_at, ecpay_trade_no)
SELECT 'E' || upper(substr(md5('p' || g), 1, 19)), 1 + (g * 7919) % 20000, 'SUCCESS', 25, 0, 25, 0.002, 10200, 20.4,
       md5('k' || g), md5('h' || g), now() - interval '365 days' + g * interval '5 minutes' + interval '30 minutes',
       now() - interval '365 days' + g * interval '5 minutes', '2612' || lpad(g::text, 16, '0')
FROM generate_series(1, 100000) g;
INSERT INTO payment_items (payment_id, product_id, target, status, price_twd, cost_idr, created_at)
SELECT g, 1, '08' || (ARRAY['12','13','52','53','21','22','17','18','57','59'])[1 + g % 10]
             || lpad(((g::bigint * 48271) % 100000000)::text, 8, '0'),
       'SUCCESS', 25, 10200, now() - interval '365 days' + g * interval '5 minutes'
FROM generate_series(1, 100000) g;
INSERT INTO item_attempts (item_id, supplier_id, reference, state, cost_idr, cost_twd, checks, supplier_txn_id,
                           created_at)
SELECT g, 1, 'ESA' || upper(substr(md5('a' || g), 1, 20)), 'SUCCESS', 10200, 20.4, 0, 'IAK' || (7000000 + g),
       now() - interval '365 days' + g * interval '5 minutes'
FROM generate_series(1, 100000) g;
ANALYZE;
"""

# migration 0016's indexes (alembic/versions/0016_order_search_index.py)
INDEXES = {
    "ix_payments_ecpay_trade_no": "CREATE INDEX ix_payments_ecpay_trade_no ON payments (ecpay_trade_no)",
    "ix_attempts_supplier_txn_id": "CREATE INDEX ix_attempts_supplier_txn_id ON item_attempts (supplier_txn_id)",
    "ix_customers_display_name_trgm": (
        "CREATE INDEX ix_customers_display_name_trgm ON customers USING gin (display_name gin_trgm_ops)"
    ),
    "ix_items_target_trgm": "CREATE INDEX ix_items_target_trgm ON payment_items USING gin (target gin_trgm_ops)",
}


def _module_at(commit: str):  # type: ignore[no-untyped-def]
    """esa_domain.views.orders as `commit` had it, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{commit}:esa_domain/views/orders.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"orders_{commit}.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


class _Capture:
    """Takes the statement search_orders would run (and answers no rows)."""

    def execute(self, stmt):  # type: ignore[no-untyped-def]
        self.stmt = stmt

        class Empty:
            def all(self):  # type: ignore[no-untyped-def]
                return []

        return Empty()


def _compiled(module, q: str):  # type: ignore[no-untyped-def]
    capture = _Capture()
    module.search_orders(capture, module.OrderFilter(q=q))
    return capture.stmt.compile(
        dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True}
    )


def _measure(engine, module, q: str) -> tuple[float, str, int]:  # type: ignore[no-untyped-def]
    comp = _compiled(module, q)
    times, plan = [], ""
    with engine.connect() as conn:
        for _ in range(7):
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(comp), comp.params).all()
            plan = "\n".join(r[0] for r in rows)
            times.append(float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)))  # type: ignore[union-attr]
        found = len(conn.exec_driver_sql(str(comp), comp.params).all())
    return statistics.median(times[2:]), plan, found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "server_url", help="a PostgreSQL server URL (a database is created there and dropped)"
    )
    parser.add_argument("--old", help="also measure the query as this commit built it")
    parser.add_argument("--plans", action="store_true", help="print the plans with the indexes")
    args = parser.parse_args()

    from alembic.config import Config

    from alembic import command
    from esa_domain.views import orders as now

    server = make_url(args.server_url).set(drivername="postgresql+psycopg")
    name = f"esa_bench_search_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    engine = create_engine(url)
    try:
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
        command.upgrade(cfg, "head")
        with engine.begin() as conn:
            conn.connection.driver_connection.execute(FILL)  # no parameters: its % are SQL's modulo
        with engine.connect() as conn:
            target = conn.execute(text("SELECT target FROM payment_items WHERE id = 4242")).scalar_one()
            line = conn.execute(text("SELECT line_user_id FROM customers WHERE id = 777")).scalar_one()
            mtn, tno = conn.execute(
                text("SELECT merchant_trade_no, ecpay_trade_no FROM payments WHERE id = 4242")
            ).one()
            txn = conn.execute(text("SELECT supplier_txn_id FROM item_attempts WHERE id = 4242")).scalar_one()
            trgm = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
        queries = {
            "part of a number": target[-7:],
            "+62 form": f"+62 {target[1:4]}-{target[4:8]}-{target[8:]}",
            "part of a name (1 in 20 customers)": "rahmaw",
            "part of a name (one customer)": "siregar 1809",
            "LINE user id": line,
            "MerchantTradeNo": mtn,
            "ECPay TradeNo": tno,
            "supplier transaction id": txn,
            "our order number": "#4242",
        }
        shapes = [("now", now)] + ([(args.old, _module_at(args.old))] if args.old else [])
        results: dict[tuple[bool, str, str], tuple[float, int]] = {}
        for with_indexes in (False, True):
            with engine.begin() as conn:
                for index, ddl in INDEXES.items():
                    conn.execute(text(f"DROP INDEX IF EXISTS {index}"))
                    if with_indexes and (trgm or "trgm" not in index):
                        conn.execute(text(ddl))
                conn.execute(text("ANALYZE"))
            for label, module in shapes:
                for what, q in queries.items():
                    ms, plan, found = _measure(engine, module, q)
                    results[(with_indexes, label, what)] = (ms, found)
                    if args.plans and with_indexes and label == "now":
                        print(f"--- {what} ({q!r})\n{plan}\n")
        columns = [(w, label) for label, _ in reversed(shapes) for w in (False, True)]
        print(f"pg_trgm: {'yes' if trgm else 'no (trigram indexes left out)'}\n")
        head = " | ".join(f"{label}, {'with' if w else 'without'} 0016's indexes" for w, label in columns)
        print(f"| search | q | found | {head} |")
        print("|---|---|---|" + "---|" * len(columns))
        for what, q in queries.items():
            cells = [results[(w, label, what)] for w, label in columns]
            assert len({c[1] for c in cells}) == 1, f"the shapes disagree on {what}: {cells}"
            times = " | ".join(f"{c[0]:.1f} ms" for c in cells)
            print(f"| {what} | `{q}` | {cells[0][1]} | {times} |")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
