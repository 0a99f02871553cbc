"""Real dramatiq worker processes for integration tests: started, stopped or SIGKILLed like production ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A test worker never reaches the real services: where a test gives no simulator for one, it points at a local
# port nobody listens on (refused at once), not at ECPay's or LINE's hosts.
NOWHERE = "http://127.0.0.1:9"
OFFLINE = {
    "ECPAY_BASE_URL": NOWHERE,
    "ECPAY_INVOICE_BASE_URL": NOWHERE,
    "LINE_API_BASE_URL": NOWHERE,
    "IAK_PREPAID_URL": NOWHERE,
    "IAK_POSTPAID_URL": NOWHERE,
    **{f"{s}_BASE_URL": NOWHERE for s in ("BILLFAZZ", "REDISION", "LAPAKGAMING", "PULSAIF")},
}


class WorkerProcess:
    """`dramatiq workers.actors workers.schedules` in its own process group, with the given environment.

    Every started one is remembered until it is stopped or killed, so `kill_leftovers()` (run by the tests after
    each test) can end those a failing test left running: a leftover would consume the next test's messages.
    """

    _running: set[WorkerProcess] = set()

    def __init__(
        self, env: dict[str, str], *, processes: int = 1, threads: int = 4, log_path: Path | None = None
    ):
        self.env = {**OFFLINE, **os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.processes, self.threads = processes, threads
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dramatiq",
                "workers.actors",
                "workers.schedules",
                "--processes",
                str(self.processes),
                "--threads",
                str(self.threads),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        WorkerProcess._running.add(self)
        return self

    @classmethod
    def kill_leftovers(cls) -> int:
        """SIGKILL every started worker still running; returns how many there were."""
        leftovers = [w for w in cls._running if w.proc is not None and w.proc.poll() is None]
        for worker in leftovers:
            worker.kill()
        cls._running.clear()
        return len(leftovers)

    def kill(self) -> None:
        """SIGKILL the whole worker (parent and forks), as a crash or an OOM kill would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        WorkerProcess._running.discard(self)

    def stop(self, timeout: float = 20) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        WorkerProcess._running.discard(self)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
