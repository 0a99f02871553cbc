"""Plumbing shared by the supplier simulators: a ledger with a balance, delayed jobs, and /_sandbox routes.

A simulator keeps one `SimulatorState`. Its `Ledger` records every transaction it accepted (debited on
acceptance, refunded on failure) and whether goods were delivered, so tests can count deliveries. Its
`Scheduler` runs delayed jobs (settling a pending transaction, sending callbacks) on one daemon thread.
`add_sandbox_routes` mounts GET /_sandbox/ledger, POST /_sandbox/force/{reference}?status=success|failed
POST /_sandbox/reverse/{reference} (a success turned failed), POST /_sandbox/deposit?balance=<IDR> and POST /_sandbox/reset on the simulator's FastAPI app, and the controls
every supplier has (issue 14):
- POST /_sandbox/outage?mode=5xx|timeout|off: every supplier call (not /_sandbox) answers 503, or is held past
  the client's read timeout and then answers 504; nothing is created meanwhile.
- POST /_sandbox/stock/{sku}?available=false|true: that SKU is out of stock, answered with the supplier's own
  documented out-of-stock code; GET /_sandbox/controls shows them.
- POST /_sandbox/deposit?balance=<IDR>: the deposit, which is what the supplier's balance call answers and what
  its "insufficient balance" answer is checked against.
"""

from __future__ import annotations

import asyncio
import heapq
import http.client
import itertools
import json as jsonlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse

from sandbox.behaviours import Behaviour

log = logging.getLogger(__name__)

PENDING = "pending"
SUCCESS = "success"
FAILED = "failed"


@dataclass
class Txn:
    reference: str  # the client's reference (IAK ref_id, Lapak partner_reference_id, BillFazz refId)
    sku: str
    target: str
    status: str  # pending | success | failed
    cost: int  # IDR debited
    delivered: bool = False
    supplier_txn_id: str = ""
    serial: str = ""
    debited: bool = True  # False for a rejection recorded without a debit
    callback_url: str | None = None
    behaviour: str = ""
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)


class Ledger:
    """Transactions and balance of one simulated reseller account; thread-safe."""

    def __init__(self, balance: int) -> None:
        """`balance` is the opening deposit in IDR."""
        self._lock = threading.RLock()
        self._initial = balance
        self.balance = balance
        self._txns: dict[str, Txn] = {}
        self._ids = itertools.count(1)

    def next_id(self, prefix: str) -> str:
        """A new supplier-side transaction id such as `IAK000017`."""
        return f"{prefix}{next(self._ids):06d}"

    def get(self, reference: str) -> Txn | None:
        with self._lock:
            return self._txns.get(reference)

    def accept(self, txn: Txn) -> Txn:
        """Record `txn` and debit its cost (when `txn.debited`); the caller checked balance and duplicates."""
        with self._lock:
            if txn.debited:
                self.balance -= txn.cost
            self._txns[txn.reference] = txn
            return txn

    def settle(self, reference: str, status: str, serial: str = "") -> Txn | None:
        """Move a pending transaction to `status`; a finished one never changes (returns it unchanged)."""
        with self._lock:
            txn = self._txns.get(reference)
            if txn is None or txn.status != PENDING or status == PENDING:
                return txn
            txn.status = status
            if status == SUCCESS:
                txn.delivered = True
                txn.serial = serial or txn.serial
            elif txn.debited:
                self.balance += txn.cost  # refund on failure
                txn.debited = False
            return txn

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "balance": self.balance,
                "transactions": [
                    {k: v for k, v in asdict(t).items() if k not in ("extra",)} for t in self._txns.values()
                ],
            }

    def reset(self) -> None:
        with self._lock:
            self._txns.clear()
            self.balance = self._initial


class Scheduler:
    """Runs jobs after a delay on `threads` daemon threads (one by default: jobs due at the same moment then
    run in the order given); `clear()` drops everything not yet run."""

    def __init__(self, threads: int = 1) -> None:
        self._heap: list[tuple[float, int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._generation = 0
        self._running = 0  # jobs being run right now (a callback on its way)
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, name=f"sandbox-scheduler-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def later(self, delay_s: float, job: Callable[[], None]) -> None:
        """Run `job` in `delay_s` seconds."""
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._seq), self._generation, job))
            self._cond.notify()

    def clear(self, wait_s: float = 10.0) -> None:
        """Drop every job not yet run, and wait (up to `wait_s`) for the ones running to finish: after a reset,
        no callback of before the reset arrives any more (a test's references may be the next test's too)."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            self._heap.clear()
            self._generation += 1
            if threading.current_thread() in self._threads:
                return  # a job resetting its own simulator: it cannot wait for itself
            while self._running and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                _, _, generation, job = heapq.heappop(self._heap)
                if generation != self._generation:
                    continue
                self._running += 1
            try:
                job()
            except Exception:  # a failed callback must not stop the simulator
                log.exception("sandbox job failed")
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()


class CallbackSender:
    """Sends callbacks over kept-alive connections, one per thread and host: a simulator under load sends as
    many callbacks as it answers purchases, and a new client or connection per callback would cost more than
    the simulated supplier itself. JSON bodies are encoded as httpx encodes them (signatures cover them)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        """Send one request and read the whole answer; returns its status. Raises OSError/HTTPException."""
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode(params) if params else "") if q)
        target = (parts.path or "/") + (f"?{query}" if query else "")
        sent_headers = dict(headers or {})
        body = None
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            sent_headers["Content-Type"] = "application/json"
        conns: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        key = (parts.scheme, parts.netloc)
        while True:
            conn = conns.get(key)
            reused = conn is not None
            if conn is None:
                cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                conn = conns[key] = cls(parts.netloc, timeout=self.timeout)
            try:
                conn.request(method, target, body=body, headers=sent_headers)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
                    del conns[key]
                return response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(key, None)
                if not reused:  # a kept-alive connection the server closed meanwhile gets one fresh try
                    raise


@dataclass
class SimulatorConfig:
    """Knobs shared by every simulator; tests shrink the delays."""

    balance: int = 50_000_000  # opening deposit, IDR
    slow_seconds: float = 20.0  # TIMEOUT_BUT_SUCCEEDS sleeps this long: longer than the client's read timeout
    slow_answer_seconds: float = 2.0  # SLOW answers after this long: within a sane client timeout
    callback_delay: float = 1.0  # PENDING_* settle and call back after this long
    callback_timeout: float = 5.0
    # threads that run settlements and callbacks; more than one lets callbacks overlap (a load test), at
    # the price of the order between two transactions' callbacks
    scheduler_threads: int = 1


class SimulatorState:
    """One simulator's ledger, scheduler, config and callback sender."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.ledger = Ledger(config.balance)
        self.scheduler = Scheduler(config.scheduler_threads)
        # Set by each simulator: sends the callback for a transaction; `status` overrides the txn's own.
        self.notify: Callable[[Txn, str | None], None] = lambda txn, status: None
        self.callbacks_sent: list[dict[str, Any]] = []  # what was sent, for tests and the demo
        self.outage: str | None = None  # "5xx" | "timeout": every supplier call fails that way
        self.out_of_stock: set[str] = set()  # SKUs answered with the supplier's out-of-stock code
        self._lock = threading.Lock()
        self._sender = CallbackSender(config.callback_timeout)

    def send_callback(
        self,
        url: str | None,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Deliver one callback now (call it from a scheduled job); failures are logged, never raised."""
        with self._lock:
            self.callbacks_sent.append({"url": url, "json": json, "params": params})
        if not url:
            return
        try:
            self._sender.send(method, url, json=json, params=params, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            log.warning("sandbox callback to %s failed: %s", url, exc)

    def settle_and_notify(self, reference: str, status: str, serial: str = "", times: int = 1) -> None:
        """Settle `reference` and send its callback `times` times (a job for the scheduler)."""
        txn = self.ledger.settle(reference, status, serial)
        if txn is None or txn.extra.get("no_callback"):
            return
        for _ in range(times):
            self.notify(txn, None)

    def reset(self) -> None:
        self.scheduler.clear()
        self.ledger.reset()
        self.outage = None
        self.out_of_stock.clear()
        with self._lock:
            self.callbacks_sent.clear()


def add_sandbox_routes(app: FastAPI, state: SimulatorState, serial_for: Callable[[Txn], str]) -> None:
    """Mount the operator/test endpoints; `serial_for` makes the serial for a forced success."""

    @app.get("/_sandbox/ledger")
    def ledger() -> dict[str, Any]:
        return state.ledger.snapshot()

    @app.get("/_sandbox/callbacks")
    def callbacks() -> list[dict[str, Any]]:
        return list(state.callbacks_sent)

    @app.post("/_sandbox/force/{reference}")
    def force(reference: str, status: str = Query(pattern="^(success|failed)$")) -> dict[str, Any]:
        txn = state.ledger.get(reference)
        if txn is None:
            raise HTTPException(404, f"no transaction with reference {reference}")
        if txn.status != PENDING:
            raise HTTPException(409, f"transaction {reference} is already {txn.status}")
        state.settle_and_notify(reference, status, serial_for(txn) if status == SUCCESS else "")
        return {"reference": reference, "status": txn.status}

    @app.post("/_sandbox/reverse/{reference}")
    def reverse(reference: str, callback: bool = True) -> dict[str, Any]:
        """The supplier reverses a delivered transaction: it is FAILED from now on (status checks say so), the
        cost goes back to the deposit, and its callback is sent again with the failure (unless callback=false)."""
        with state.ledger._lock:
            txn = state.ledger.get(reference)
            if txn is None:
                raise HTTPException(404, f"no transaction with reference {reference}")
            if txn.status != SUCCESS:
                raise HTTPException(409, f"transaction {reference} is {txn.status}, not success")
            txn.status, txn.delivered = FAILED, False
            txn.extra.setdefault("reason", "Reversed by the supplier")
            if txn.debited:
                state.ledger.balance += txn.cost
                txn.debited = False
        if callback and not txn.extra.get("no_callback"):
            state.scheduler.later(0.0, lambda: state.notify(txn, None))
        return {"reference": reference, "status": txn.status}

    @app.post("/_sandbox/deposit")
    def deposit(balance: int = Query(ge=0, le=10**13)) -> dict[str, int]:
        """Set the account's deposit (IDR), e.g. low to provoke the supplier's own insufficient-balance answer."""
        with state.ledger._lock:
            state.ledger.balance = balance
        return {"balance": balance}

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, str]:
        state.reset()
        return {"status": "reset"}

    @app.get("/_sandbox/controls")
    def controls() -> dict[str, Any]:
        return {
            "outage": state.outage,
            "out_of_stock": sorted(state.out_of_stock),
            "balance": state.ledger.balance,
        }

    @app.post("/_sandbox/outage")
    def outage(mode: str = Query(pattern="^(5xx|timeout|off)$")) -> dict[str, str | None]:
        """Put the whole supplier down (every call 5xx, or held past the client's timeout), or back up."""
        state.outage = None if mode == "off" else mode
        return {"outage": state.outage}

    @app.post("/_sandbox/stock/{sku}")
    def stock(sku: str, available: bool = Query()) -> dict[str, Any]:
        """Take one SKU out of stock (the supplier's own out-of-stock answer), or put it back."""
        if available:
            state.out_of_stock.discard(sku)
        else:
            state.out_of_stock.add(sku)
        return {"sku": sku, "available": available}

    @app.middleware("http")
    async def supplier_down(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if state.outage is None or "/_sandbox/" in request.url.path:
            return await call_next(request)
        if state.outage == "timeout":
            await asyncio.sleep(state.config.slow_seconds)
            return PlainTextResponse("Gateway Timeout", 504)
        return PlainTextResponse("Service Unavailable", 503)


def answer_delay(state: SimulatorState, behaviour: Behaviour) -> float:
    """How long the purchase answer is held back: past the client timeout, a little, or not at all."""
    if behaviour is Behaviour.TIMEOUT_BUT_SUCCEEDS:
        return state.config.slow_seconds
    if behaviour is Behaviour.SLOW:
        return state.config.slow_answer_seconds
    return 0.0


def start_lifecycle(state: SimulatorState, txn: Txn, behaviour: Behaviour, serial: str) -> None:
    """After `txn` was accepted as pending, settle it and call back the way `behaviour` asks.

    SUCCESS, SLOW, TIMEOUT_BUT_SUCCEEDS and SERVER_ERROR_CREATED deliver at once (the caller decides what the
    synchronous answer says); the PENDING_* and callback-shaped behaviours settle after `callback_delay`.
    """
    delay = state.config.callback_delay
    ref = txn.reference
    if behaviour in (Behaviour.SUCCESS, Behaviour.SLOW):
        state.ledger.settle(ref, SUCCESS, serial)
        state.scheduler.later(0.0, lambda: state.notify(txn, None))
    elif behaviour in (Behaviour.TIMEOUT_BUT_SUCCEEDS, Behaviour.SERVER_ERROR_CREATED):
        state.ledger.settle(ref, SUCCESS, serial)
        # The callback comes when the lost answer would have: the caller must not rely on it.
        later = state.config.slow_seconds if behaviour is Behaviour.TIMEOUT_BUT_SUCCEEDS else delay
        state.scheduler.later(later, lambda: state.notify(txn, None))
    elif behaviour is Behaviour.PENDING_THEN_FAILURE:
        state.scheduler.later(delay, lambda: state.settle_and_notify(ref, FAILED))
    elif behaviour is Behaviour.NO_CALLBACK:
        txn.extra["no_callback"] = True
        state.scheduler.later(delay, lambda: state.ledger.settle(ref, SUCCESS, serial))
    elif behaviour is Behaviour.DUPLICATE_CALLBACK:
        state.scheduler.later(delay, lambda: state.settle_and_notify(ref, SUCCESS, serial, times=2))
    elif behaviour is Behaviour.OUT_OF_ORDER_CALLBACKS:

        def success_then_stale() -> None:
            state.settle_and_notify(ref, SUCCESS, serial)
            state.notify(txn, FAILED)  # a stale failure arriving after the success

        state.scheduler.later(delay, success_then_stale)
    else:  # PENDING_THEN_SUCCESS and anything else that got this far
        state.scheduler.later(delay, lambda: state.settle_and_notify(ref, SUCCESS, serial))
