"""What the database saw: committed transactions per phase, ESA's peak connections, and pgbench's TPS."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

PGBENCH = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin" / "pgbench"
_ACTIVE = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
STATS_SETTLE_S = 11.5  # an idle backend flushes its pending statistics within 10 s (PostgreSQL 15+)


@dataclass(frozen=True)
class Xacts:
    commit: int
    rollback: int


class Monitor:
    """A connection to the `postgres` database (its own queries never count against ESA's database)."""

    def __init__(self, socket_dir: str, database: str = "esa") -> None:
        self.conninfo = f"host={socket_dir} user=postgres dbname=postgres"
        self.database = database
        self.conn = psycopg.connect(self.conninfo, autocommit=True)
        self.peak_connections = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def xacts(self, settle: bool = True) -> Xacts:
        """Committed and rolled-back transactions of ESA's database so far (after the backends flushed)."""
        if settle:
            time.sleep(STATS_SETTLE_S)
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        c, r = self.conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s", (self.database,)
        ).fetchone()  # type: ignore[misc]
        return Xacts(int(c), int(r))

    def connections(self) -> int:
        with psycopg.connect(self.conninfo, autocommit=True) as c:
            return int(
                c.execute(
                    _ACTIVE,
                    (self.database,),
                ).fetchone()[0]
            )  # type: ignore[index]

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as c:
            while not self._stop.is_set():
                n = c.execute(
                    _ACTIVE,
                    (self.database,),
                ).fetchone()[0]  # type: ignore[index]
                self.peak_connections = max(self.peak_connections, int(n))
                self._stop.wait(0.5)

    def start_sampling(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.conn.close()


def pgbench(socket_dir: str, database: str, clients: int, seconds: int, say) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    """`pgbench -i -s 10`, then a TPC-B-like run with `clients` connections; returns (TPS, its summary)."""
    base = [str(PGBENCH), "-h", socket_dir, "-U", "postgres"]
    say("pgbench: initialising scale 10 (1,000,000 accounts) in the same database …")
    subprocess.run([*base, "-i", "-s", "10", "-q", database], check=True, capture_output=True, timeout=600)
    threads = max(1, min(clients, 2))
    say(f"pgbench: TPC-B-like run, {clients} clients, {threads} threads, {seconds} s …")
    out = subprocess.run(
        [*base, "-c", str(clients), "-j", str(threads), "-T", str(seconds), "-P", "5", database],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    ).stdout
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    summary = f"latency avg {lat.group(1)} ms" if lat else ""
    return (float(m.group(1)) if m else float("nan")), summary
