"""The periodiq schedule. Exactly one `esa scheduler` (periodiq) runs it; any worker executes the ticks."""

from __future__ import annotations

import logging
from datetime import timedelta

import dramatiq
from periodiq import cron

from esa_domain.infra import outbox
from esa_domain.infra.runtime import build_reconcile_policy
from esa_domain.infra.settings import get_settings
from esa_domain.operations import daily_close, deposits, watchdogs
from esa_domain.operations.reconciliation import reconcile
from workers.actors import sync_catalog
from workers.broker import broker  # noqa: F401
from workers.context import ecpay_client, runtime

log = logging.getLogger(__name__)

# the tick and the time limit are fixed when the schedule loads; both come from the reconcile policy
_RECONCILE = build_reconcile_policy(get_settings())
_EVERY_MIN = int(_RECONCILE.every.total_seconds() // 60)


@dramatiq.actor(
    queue_name="reconciliation",
    periodic=cron("0 * * * *" if _EVERY_MIN == 60 else f"*/{_EVERY_MIN} * * * *"),
    time_limit=int(_RECONCILE.time_limit.total_seconds() * 1000),
    max_retries=0,
)
def reconcile_payments() -> None:
    rt = runtime()
    log.info("reconciliation: %s", reconcile(rt.uow, rt.ecpay, ecpay_client(), policy=rt.reconcile_policy))


@dramatiq.actor(queue_name="reconciliation", periodic=cron("* * * * *"), time_limit=50_000, max_retries=0)
def sweep_outbox() -> None:
    rt = runtime()
    with watchdogs.job_run(rt.uow, watchdogs.OUTBOX_SWEEP) as summary:  # the watchdog sees it is alive
        sent = outbox.sweep(rt.engine, rt.publisher, older_than=timedelta(seconds=30))  # type: ignore[arg-type]
        summary["resent"] = sent
    if sent:
        log.warning("outbox sweeper re-sent %d rows left behind", sent)


@dramatiq.actor(queue_name="reconciliation", periodic=cron("* * * * *"), time_limit=50_000, max_retries=0)
def tell_slow_orders_paid() -> None:
    """Customers whose order is paid but still delivering after notify.PAID_ALONE_AFTER hear "paid" in LINE
    (fast orders hear it in their one delivered message instead)."""
    from esa_domain.ordering.notify import queue_paid_for_slow_orders, release_held_messages

    with runtime().uow() as uow:
        queued = queue_paid_for_slow_orders(uow.session)
        released = release_held_messages(
            uow.session
        )  # delivered messages an e-invoice's worker never released
        uow.commit()
    if queued:
        log.info("paid messages queued for orders still delivering: %d", queued)
    if released:
        log.warning(
            "delivered messages sent by the sweeper (their e-invoice had not released them): %d", released
        )


@dramatiq.actor(queue_name="reconciliation", periodic=cron("*/5 * * * *"), time_limit=60_000, max_retries=0)
def expire_bill_quotes() -> None:
    """Bill quotes whose time passed unused: EXPIRED (an order from one is refused anyway; this tidies them)."""
    from esa_domain.ordering.bills import expire_quotes

    with runtime().uow() as uow:
        expired = expire_quotes(uow)
    if expired:
        log.info("bill quotes expired unused: %d", expired)


@dramatiq.actor(queue_name="catalog", periodic=cron("0 */12 * * *"), max_retries=0)
def sync_all_catalogs() -> None:
    """One message per supplier: one supplier's failure cannot block the others."""
    for code in runtime().fulfillment.adapters:
        sync_catalog.send(code)


@dramatiq.actor(queue_name="catalog", periodic=cron("5 * * * *"), time_limit=60_000, max_retries=2)
def refresh_fx() -> None:
    rt = runtime()
    if not rt.settings.fx_source_url:
        return
    from esa_domain.adapters.fx_source import HttpFxSource
    from esa_domain.catalog.fx_refresh import refresh_rate

    rate = refresh_rate(rt.uow, HttpFxSource(rt.settings.fx_source_url))
    log.info("FX IDR/TWD now %s", rate.rate)
    from esa_domain.catalog.pricing import follow_fx

    with rt.uow() as uow:  # prices follow the rate (ESA_REPRICE_FX_THRESHOLD_PCT); nothing sells below cost
        changed, stopped = follow_fx(uow.session, rt.settings.reprice_fx_threshold_pct)
        uow.commit()
    if changed or stopped:
        log.warning(
            "FX move: %d price(s) set by the last rule, taken off sale below cost: %s", changed, stopped
        )


_DEPOSIT_EVERY_MIN = get_settings().deposit_poll_minutes


@dramatiq.actor(
    queue_name="reconciliation",
    periodic=cron("0 * * * *" if _DEPOSIT_EVERY_MIN == 60 else f"*/{_DEPOSIT_EVERY_MIN} * * * *"),
    time_limit=120_000,
    max_retries=0,
)
def poll_deposits() -> None:
    """Every supplier's deposit balance, the balances purchase answers reported, and the low-deposit alert."""
    rt = runtime()
    with watchdogs.job_run(rt.uow, watchdogs.DEPOSIT_POLL) as summary:
        summary.update(
            deposits.poll_balances(
                rt.uow, rt.fulfillment.adapters, deposits.policy_from(rt.settings), rt.settings.public_url
            )
        )
    log.info("deposits: %s", summary)


@dramatiq.actor(queue_name="reconciliation", periodic=cron("* * * * *"), time_limit=50_000, max_retries=0)
def watch_jobs() -> None:
    """The watchdogs (esa_domain.operations.watchdogs); every worker process also runs them on a timer."""
    rt = runtime()
    policy = watchdogs.policy_from(rt.settings, list(rt.fulfillment.adapters))
    counts = watchdogs.watch(rt.uow, policy, rt.settings.public_url)
    if any(counts.values()):
        log.warning("watchdogs raised alerts: %s", counts)


@dramatiq.actor(queue_name="reconciliation", periodic=cron("15 * * * *"), time_limit=1_800_000, max_retries=0)
def close_yesterday() -> None:
    """The daily close of the previous business day (Asia/Taipei), at the first hourly tick after it ended
    (whatever the scheduler host's time zone); a day already closed after its end is left alone."""
    rt = runtime()
    day = daily_close.previous_business_day()
    with rt.uow() as uow:
        if daily_close.closed_after_end(uow.session, day):
            return
    with watchdogs.job_run(rt.uow, watchdogs.DAILY_CLOSE) as summary:
        result = daily_close.close_day(
            rt.uow,
            day,
            ecpay_client=ecpay_client(),
            adapters=rt.fulfillment.adapters,
            public_url=rt.settings.public_url,
            credit_check_code=getattr(rt.ecpay, "credit_check_code", ""),
        )
        summary.update({"day": day.isoformat(), "differences": len(result.differences), "new": result.new})
    log.info("daily close %s: %s", day, summary)
