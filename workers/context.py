"""The worker process's runtime: built once per process, after the fork (engines must not cross a fork)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

import dramatiq

from esa_domain.adapters.ecpay import EcpayClient
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import get_settings
from workers.broker import broker
from workers.publisher import DramatiqPublisher

_local = threading.local()


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """The composition root's runtime, publishing on this process's broker (the one its actors listen on)."""
    return Runtime.from_settings(get_settings(), DramatiqPublisher(broker))


def ecpay_client() -> EcpayClient:
    """One ECPay client per worker thread; its 403 back-off is also persisted on the payment."""
    client = getattr(_local, "ecpay", None)
    if client is None:
        client = _local.ecpay = runtime().ecpay.client()
    return client


class BuildRuntimeAtBoot(dramatiq.Middleware):
    """Each worker process builds its runtime (engine, supplier adapters and their HTTP clients) as it boots,
    not inside its first messages: a configuration error shows at start, and no purchase waits for it."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        runtime().fulfillment  # noqa: B018 (a cached property: built here, once)
        start_watchdog_timer(float(runtime().settings.watchdog_every_seconds))


def start_watchdog_timer(every_s: float) -> threading.Thread:
    """Run the watchdogs every `every_s` seconds in this process, on a daemon thread: if the scheduler (or its
    ticks) stop, any surviving worker process still notices that the jobs stopped and raises the alert."""
    from esa_domain.operations import watchdogs

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                rt = runtime()
                watchdogs.watch(
                    rt.uow,
                    watchdogs.policy_from(rt.settings, list(rt.fulfillment.adapters)),
                    rt.settings.public_url,
                )
            except Exception:  # the database may be away for a while: try again at the next turn
                logging.getLogger(__name__).exception("watchdog timer run failed")

    thread = threading.Thread(target=loop, name="esa-watchdog", daemon=True)
    thread.start()
    return thread
