"""Figures read from PostgreSQL and Redis when Prometheus scrapes, not counted on the order path.

Served by the scheduler (exactly one runs, so its counters are the system's). Each scrape within `ttl` seconds
of the last one gets the same cached answer: a scraper, or several, cost at most a few small queries per ttl.

- outbox: rows waiting to be sent (due and undispatched), rows parked for later, the age of the oldest waiting;
- queues: messages ready, delayed and dead-lettered per dramatiq queue (Redis);
- FX: the age of the latest IDR/TWD rate;
- suppliers: circuit breaker open or not, consecutive failures, the latest deposit balance and its age;
- transitions: every payment, item and refund transition, counted from the history rows `move()`/`born()`
  write with each one (esa_domain/core/transitions.py). One history row per transition, written in the
  transition's own statement, so counting them counts every transition of every process exactly once,
  without a line on the order path. Counted incrementally by id after a full count at start; rows younger than
  HISTORY_LAG are left for the next scrape (a transaction still open then would otherwise be skipped).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

QUEUES = ("fulfillment", "reconciliation", "catalog", "alerts")
NAMESPACE = "esa"
HISTORY_LAG_SECONDS = 5

_OUTBOX = text(
    """
    SELECT count(*) FILTER (WHERE available_at IS NULL OR available_at <= now()) AS waiting,
           count(*) FILTER (WHERE available_at > now()) AS parked,
           EXTRACT(EPOCH FROM now() - min(COALESCE(available_at, created_at))
                   FILTER (WHERE available_at IS NULL OR available_at <= now())) AS oldest
    FROM outbox WHERE dispatched_at IS NULL
    """
)
_FX = text("SELECT EXTRACT(EPOCH FROM now() - max(fetched_at)) FROM fx_rates WHERE pair = 'IDR/TWD'")
_SUPPLIERS = text(
    "SELECT code, consecutive_failures, (circuit_open_until IS NOT NULL AND circuit_open_until > now()) "
    "FROM suppliers ORDER BY code"
)
_OFFER_CIRCUITS = text(
    "SELECT s.code, count(o.id) FILTER (WHERE o.circuit_open_until > now()) "
    "FROM suppliers s LEFT JOIN supplier_offers o ON o.supplier_id = s.id GROUP BY s.code ORDER BY s.code"
)
_DEPOSITS = text(
    """
    SELECT DISTINCT ON (b.supplier_id) s.code, b.balance_idr, EXTRACT(EPOCH FROM now() - b.observed_at)
    FROM supplier_balances b JOIN suppliers s ON s.id = b.supplier_id
    ORDER BY b.supplier_id, b.observed_at DESC
    """
)
_ALERTS = text("SELECT status, count(*) FROM alerts GROUP BY status")
_RECONCILE_RUNS = text(
    "SELECT id, status, summary FROM job_runs WHERE kind = 'reconcile' AND id > :last ORDER BY id LIMIT 1000"
)
_JOBS_OK = text(
    "SELECT kind, EXTRACT(EPOCH FROM now() - max(finished_at)) FROM job_runs "
    "WHERE status = 'ok' AND started_at > now() - interval '7 days' GROUP BY kind"
)
# (lifecycle label, table, which rows); payments and items share payment_history (items carry item_id)
_HISTORIES = (
    ("payment", "payment_history", "item_id IS NULL"),
    ("item", "payment_history", "item_id IS NOT NULL"),
    ("refund", "refund_history", "TRUE"),
)


class StateCollector:
    """A prometheus_client collector of the database's and Redis's figures (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        redis_client: Any | None = None,
        *,
        ttl: float = 10.0,
        history_lag_seconds: float = HISTORY_LAG_SECONDS,
    ) -> None:
        self.engine = engine
        self.redis = redis_client
        self.ttl = ttl
        self.history_lag = history_lag_seconds
        self._lock = threading.Lock()
        self._at = 0.0
        self._cached: list[Metric] = []
        self._transitions: dict[tuple[str, str, str], int] = {}
        self._last_id: dict[str, int] = {}
        self._last_run = 0
        self._runs: dict[str, int] = {}
        self._results: dict[str, int] = {}

    def describe(self) -> list[Metric]:
        return []  # read on scrape; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._cached = self._read()
                self._at = time.monotonic()
            yield from self._cached

    def _read(self) -> list[Metric]:
        families: list[Metric] = []
        up = GaugeMetricFamily(
            "esa_state_up", "1 when the last read of the database and Redis figures worked."
        )
        ok = True
        try:
            with self.engine.connect() as conn:
                families += self._database(conn)
        except Exception:
            log.warning("metrics: could not read the database figures", exc_info=True)
            ok = False
        if self.redis is not None:
            try:
                families.append(self._queues())
            except Exception:
                log.warning("metrics: could not read the queue depths", exc_info=True)
                ok = False
        up.add_metric([], 1.0 if ok else 0.0)
        return [up, *families]

    def _database(self, conn: Any) -> list[Metric]:
        waiting, parked, oldest = conn.execute(_OUTBOX).one()
        outbox = GaugeMetricFamily("esa_outbox_waiting", "Outbox rows due and not yet sent to the broker.")
        outbox.add_metric([], float(waiting))
        parked_f = GaugeMetricFamily("esa_outbox_parked", "Outbox rows parked until a later time.")
        parked_f.add_metric([], float(parked))
        age = GaugeMetricFamily(
            "esa_outbox_oldest_age_seconds", "Age of the oldest waiting outbox row (0: none)."
        )
        age.add_metric([], float(oldest or 0))
        families: list[Metric] = [outbox, parked_f, age]

        fx_age = conn.execute(_FX).scalar_one_or_none()
        fx = GaugeMetricFamily(
            "esa_fx_rate_age_seconds", "Age of the latest IDR/TWD rate (absent: none stored)."
        )
        if fx_age is not None:
            fx.add_metric([], float(fx_age))
        families.append(fx)

        open_f = GaugeMetricFamily(
            "esa_supplier_circuit_open", "1 while a supplier's circuit breaker is open.", labels=["supplier"]
        )
        fails = GaugeMetricFamily(
            "esa_supplier_consecutive_failures",
            "A supplier's consecutive non-customer failures.",
            labels=["supplier"],
        )
        for code, failures, is_open in conn.execute(_SUPPLIERS):
            open_f.add_metric([code], 1.0 if is_open else 0.0)
            fails.add_metric([code], float(failures or 0))
        families += [open_f, fails]
        if self._has_column(conn, "supplier_offers", "circuit_open_until"):
            offers = GaugeMetricFamily(
                "esa_offer_circuits_open",
                "A supplier's offers (one product there) held back by their own breaker (out of stock).",
                labels=["supplier"],
            )
            for code, n in conn.execute(_OFFER_CIRCUITS):
                offers.add_metric([code], float(n))
            families.append(offers)

        balance = GaugeMetricFamily(
            "esa_supplier_deposit_idr",
            "A supplier's latest known deposit balance, in IDR.",
            labels=["supplier"],
        )
        balance_age = GaugeMetricFamily(
            "esa_supplier_deposit_age_seconds", "Age of that balance reading.", labels=["supplier"]
        )
        deposits = conn.execute(_DEPOSITS) if self._exists(conn, "supplier_balances") else []
        for code, idr, seconds in deposits:
            balance.add_metric([code], float(idr))
            balance_age.add_metric([code], float(seconds))
        families += [balance, balance_age]
        families.append(self._transition_counts(conn))
        families += self._jobs(conn)
        alerts = GaugeMetricFamily(
            "esa_alerts", "Operator alerts by delivery status (queued, sent, failed).", labels=["status"]
        )
        for status, count in conn.execute(_ALERTS):
            alerts.add_metric([status], float(count))
        families.append(alerts)
        return families

    def _jobs(self, conn: Any) -> list[Metric]:
        """Reconciliation's findings and heals, summed over its finished runs (each run's summary once), and
        the age of every job's last successful run."""
        for run_id, status, summary in conn.execute(_RECONCILE_RUNS, {"last": self._last_run}):
            if status == "running":
                break  # counted once it finishes; the runs after it wait for it
            self._runs[status] = self._runs.get(status, 0) + 1
            for key, n in (summary or {}).items():
                if isinstance(n, int) and not isinstance(n, bool):
                    self._results[key] = self._results.get(key, 0) + n
            self._last_run = run_id
        runs = CounterMetricFamily(
            "esa_reconciliation_runs", "Finished reconciliation runs, by status.", labels=["status"]
        )
        for status, n in sorted(self._runs.items()):
            runs.add_metric([status], float(n))
        results = CounterMetricFamily(
            "esa_reconciliation_results",
            "What reconciliation found and healed, summed over its runs, by the run summary's key.",
            labels=["result"],
        )
        for key, n in sorted(self._results.items()):
            results.add_metric([key[:60]], float(n))
        age = GaugeMetricFamily(
            "esa_job_last_ok_age_seconds",
            "Time since a scheduled job last finished well, by job.",
            labels=["job"],
        )
        for kind, seconds in conn.execute(_JOBS_OK):
            age.add_metric([kind], float(seconds))
        return [runs, results, age]

    def _transition_counts(self, conn: Any) -> Metric:
        for lifecycle, table, rows in _HISTORIES:
            if not self._exists(conn, table):
                continue
            last = self._last_id.get(lifecycle, 0)
            found = conn.execute(
                text(
                    f"SELECT COALESCE(from_status, ''), to_status, count(*), max(id) FROM {table} "  # noqa: S608
                    f"WHERE id > :last AND {rows} AND created_at < now() - make_interval(secs => :lag) "
                    "GROUP BY 1, 2"
                ),
                {"last": last, "lag": self.history_lag},
            ).all()
            for from_status, to_status, count, top in found:
                key = (lifecycle, from_status, to_status)
                self._transitions[key] = self._transitions.get(key, 0) + int(count)
                last = max(last, int(top))
            self._last_id[lifecycle] = last
        family = CounterMetricFamily(
            "esa_transitions",
            "Payment, item and refund transitions, by lifecycle, from and to state (from '' : created).",
            labels=["lifecycle", "from_status", "to_status"],
        )
        for (lifecycle, from_status, to_status), count in sorted(self._transitions.items()):
            family.add_metric([lifecycle, from_status, to_status], float(count))
        return family

    def _exists(self, conn: Any, table: str) -> bool:
        # a history table another lifecycle's migration has not created yet is skipped, not an error
        return conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar_one()

    def _has_column(self, conn: Any, table: str, column: str) -> bool:
        return conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :t AND column_name = :c)"
            ),
            {"t": table, "c": column},
        ).scalar_one()

    def _queues(self) -> Metric:
        family = GaugeMetricFamily(
            "esa_queue_messages",
            "Messages in a dramatiq queue, by state (ready, delayed, dead: dead-lettered).",
            labels=["queue", "state"],
        )
        pipe = self.redis.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(f"{NAMESPACE}:{queue}")
            pipe.hlen(f"{NAMESPACE}:{queue}.DQ.msgs")
            pipe.zcard(f"{NAMESPACE}:{queue}.XQ")
        answers = pipe.execute()
        for i, queue in enumerate(QUEUES):
            ready, delayed, dead = answers[3 * i : 3 * i + 3]
            family.add_metric([queue, "ready"], float(ready))
            family.add_metric([queue, "delayed"], float(delayed))
            family.add_metric([queue, "dead"], float(dead))
        return family
