"""Load generators over real HTTP: an open-loop one (requests leave on a fixed schedule and latency counts
from the scheduled time, so a slow server cannot slow arrivals) and a closed-loop one for the max rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# one request: (method, path, keyword arguments for httpx) built ahead of time, so building costs nothing
Request = tuple[str, str, dict]


@dataclass
class Result:
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def _client(base_url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0)


async def _one(
    client: httpx.AsyncClient, req: Request, ok: Callable[[httpx.Response], bool], res: Result, t0: float
) -> None:
    method, path, kw = req
    try:
        r = await client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        res.error(type(exc).__name__)
        return
    if ok(r):
        res.ok += 1
        res.latencies_ms.append((time.perf_counter() - t0) * 1000)
    else:
        res.error(f"HTTP {r.status_code}")


async def _open_loop(base_url: str, requests: list[Request], rate: float, ok, progress) -> Result:  # type: ignore[no-untyped-def]
    res = Result()
    tasks = []
    async with _client(base_url) as client:
        start = time.perf_counter() + 0.2
        for i, req in enumerate(requests):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(client, req, ok, res, due)))
            res.sent += 1
            if progress and i % int(rate * 5) == 0 and i:
                progress(f"  {i:,}/{len(requests):,} sent at {rate:.0f}/s")
        await asyncio.gather(*tasks)
        res.seconds = time.perf_counter() - start
    return res


async def _closed_loop(
    base_url: str, requests: list[Request], concurrency: int, seconds: float, ok
) -> Result:  # type: ignore[no-untyped-def]
    res = Result()
    it = iter(requests)
    async with _client(base_url) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def lane() -> None:
            while time.perf_counter() < deadline:
                req = next(it, None)
                if req is None:
                    return
                res.sent += 1
                await _one(client, req, ok, res, time.perf_counter())

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        res.seconds = time.perf_counter() - start
    return res


def open_loop(base_url: str, requests: list[Request], rate: float, ok, progress=None) -> Result:  # type: ignore[no-untyped-def]
    """Send `requests` at `rate` per second on schedule; latency counts from each request's scheduled time."""
    return asyncio.run(_open_loop(base_url, requests, rate, ok, progress))


def closed_loop(base_url: str, requests: list[Request], concurrency: int, seconds: float, ok) -> Result:  # type: ignore[no-untyped-def]
    """`concurrency` lanes send back to back for `seconds` (or until `requests` run out): the max rate."""
    return asyncio.run(_closed_loop(base_url, requests, concurrency, seconds, ok))
