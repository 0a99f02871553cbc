"""The reconciliation scan and the dashboard's order page, timed on the loaded history.

reconcile() runs for real (ECPay pointed at a closed port, so a query answers "unavailable" and changes
nothing), and every SELECT it sends is timed at the driver (SQLAlchemy cursor events)."""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager

from sqlalchemy import Engine, event, text
from sqlmodel import Session


@contextmanager
def statement_timer(engine: Engine):  # type: ignore[no-untyped-def]
    """Yields a dict: a statement's short label -> list of milliseconds, for every SELECT run meanwhile."""
    times: dict[str, list[float]] = defaultdict(list)

    def before(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def after(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        t0 = conn.info["bench_t0"].pop()
        if statement.lstrip().upper().startswith("SELECT"):
            times[_label(statement)].append((time.perf_counter() - t0) * 1000)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield times
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def _label(sql: str) -> str:
    """`SELECT <first column> FROM <tables> WHERE <first condition>`, shortened: tells scans apart."""
    s = " ".join(sql.split())
    m = re.match(r"SELECT (.*?) FROM (.*?)( WHERE (.*?))?( ORDER BY| LIMIT| GROUP BY| FOR UPDATE|$)", s)
    if not m:
        return s[:90]
    cols = m.group(1).split(",")[0].strip()
    tables = re.sub(r"\s+ON\s+\S+\s*=\s*\S+", "", m.group(2))
    where = (m.group(4) or "").split(" AND ")[0]
    return f"{cols} FROM {tables}" + (f" WHERE {where}" if where else "")[:110]


def time_reconcile(
    engine: Engine, public_url: str, runs: int = 3
) -> tuple[list[float], dict[str, list[float]], list[dict]]:
    """Run reconcile() `runs` times; returns each run's wall ms, SELECT ms by label, and the summaries."""
    from esa_domain.infra.db import UnitOfWork
    from esa_domain.operations.reconciliation import reconcile
    from esa_domain.payments.accept import EcpayConfig

    cfg = EcpayConfig("3002607", "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs", "http://127.0.0.1:9", public_url)
    walls, summaries = [], []
    with statement_timer(engine) as times:
        for _ in range(runs):
            with cfg.client() as client:
                t0 = time.perf_counter()
                summaries.append(reconcile(lambda: UnitOfWork(engine), cfg, client))
                walls.append((time.perf_counter() - t0) * 1000)
    # a statement run once per PENDING payment (check_payment's own reads) is not part of the scan
    return walls, dict(times), summaries


def time_order_page(
    engine: Engine, max_id: int, samples: int = 300
) -> tuple[list[float], dict[str, list[float]]]:
    """The dashboard's /orders/<id> page reads (order_view + order_timeline) for random historical orders."""
    from esa_domain.views.orders import order_view
    from esa_domain.views.timeline import order_timeline

    rng = random.Random(8)
    ids = [rng.randint(1, max_id) for _ in range(samples)]
    walls = []
    with statement_timer(engine) as times:
        for pid in ids:
            t0 = time.perf_counter()
            with Session(engine) as s:
                view = order_view(s, pid)
                if view is not None:
                    order_timeline(s, pid)
            walls.append((time.perf_counter() - t0) * 1000)
    return walls, dict(times)


def explain(engine: Engine, sql: str, params: dict) -> str:
    with engine.connect() as conn:
        rows = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql), params).scalars().all()
    return "\n".join(rows)


def p(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")
