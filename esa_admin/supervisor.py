"""`esa up`'s children, kept running: a child that dies is restarted, with a message, instead of stopping all.

Each child runs in its own process group, so a dead child's leftovers (dramatiq's worker processes outlive a
killed parent) are ended before it starts again. A child that keeps dying waits longer before each restart
(1 s doubling to 60 s), and a child that ran for a minute starts over from 1 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Start = Callable[[], "subprocess.Popen[bytes]"]

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
STABLE_AFTER_S = 60.0


@dataclass
class Child:
    name: str
    start: Start
    before_restart: Callable[[], None] | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay: float = FIRST_DELAY_S
    restart_at: float | None = None  # when a dead child is due to start again


@dataclass
class Supervisor:
    say: Callable[[str], None]
    children: list[Child] = field(default_factory=list)

    def add(
        self, name: str, start: Start, *, before_restart: Callable[[], None] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a child (`start` must give it its own session: start_new_session=True) and watch it."""
        child = Child(name, start, before_restart)
        self._launch(child)
        self.children.append(child)
        assert child.proc is not None
        return child.proc

    def _launch(self, child: Child) -> None:
        child.proc = child.start()
        child.started_at = time.monotonic()
        child.restart_at = None

    def check(self) -> list[str]:
        """Restart the children that died and are due; returns the names restarted now."""
        now = time.monotonic()
        restarted = []
        for child in self.children:
            proc = child.proc
            if proc is None or (proc.poll() is None and child.restart_at is None):
                continue
            if child.restart_at is None:  # just found dead
                _end_group(proc)
                if now - child.started_at >= STABLE_AFTER_S:
                    child.delay = FIRST_DELAY_S
                child.restart_at = now + child.delay
                self.say(
                    f"{child.name} stopped unexpectedly ({_exit_text(proc.returncode)}); "
                    f"restarting it in {child.delay:.0f} s"
                )
                child.delay = min(child.delay * 2, MAX_DELAY_S)
            if now >= child.restart_at:
                if child.before_restart is not None:
                    child.before_restart()
                self._launch(child)
                child.restarts += 1
                self.say(f"{child.name} restarted (restart {child.restarts}, pid {child.proc.pid})")  # type: ignore[union-attr]
                restarted.append(child.name)
        return restarted

    def run_forever(self, interval: float = 1.0) -> None:
        while True:
            self.check()
            time.sleep(interval)

    def stop_all(self, timeout: float = 20) -> None:
        """Stop every child, last started first: SIGTERM to its group, SIGKILL after `timeout`."""
        for child in reversed(self.children):
            proc = child.proc
            if proc is None:
                continue
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.say(f"{child.name} did not stop in {timeout:.0f} s; killing it")
            _end_group(proc)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL what is left of a child's process group (its own forks), then reap it."""
    _signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
