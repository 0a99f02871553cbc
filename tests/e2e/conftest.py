"""The dashboard in production mode on one free port, against the test database, and Debian's chromium.

The frontend is built once per session by `reflex run --env prod --single-port` (the port is baked into the
bundle, so the build happens after the port is chosen). No browser is ever downloaded.

The server is the whole web app (the API and the Mini App are mounted into it), so it is configured as the demo
is: LINE Login's sign-in and verify endpoint, ECPay and IAK are the simulators started here for the session
(`dashboard_sims`), so a customer can sign in and pay on its Mini App screens while an operator watches the
dashboard. A test that needs deliveries starts a worker with `dashboard_sims["worker_env"]`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox import iak
from sandbox.app import IAK
from sandbox.ecpay import SandboxConfig, create_ecpay_sandbox
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests.servers import Servers, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("chromium is missing: browser tests need Debian's chromium (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def dashboard_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def dashboard_sims(dashboard_port: int, database_url: str, redis_url: str) -> Iterator[dict]:
    """LINE (Login and Messaging), ECPay and IAK simulators for the session's dashboard server; their settings as
    environment variables ("env", the server's) and a worker's ("worker_env")."""
    base = f"http://127.0.0.1:{dashboard_port}"
    line_cfg = LineSandboxConfig()
    servers = Servers()
    line_url = servers.start(create_line_sandbox(line_cfg))
    ecpay_url = servers.start(create_ecpay_sandbox(config=SandboxConfig(retry_intervals=(0.5,))))
    iak_url = servers.start(iak.create_app(**IAK, callback_url=f"{base}/callbacks/iak"))
    env = {
        "ECPAY_BASE_URL": ecpay_url,
        "IAK_USERNAME": IAK["username"],
        "IAK_API_KEY": IAK["api_key"],
        "IAK_PREPAID_URL": iak_url,
        "IAK_POSTPAID_URL": iak_url,
        "LINE_API_BASE_URL": line_url,
        "LINE_CHANNEL_ACCESS_TOKEN": line_cfg.channel_access_token,
        "LINE_LOGIN_CHANNEL_ID": line_cfg.channel_id,
        "LINE_LOGIN_BASE_URL": line_url,
        "LINE_LOGIN_PAGE_URL": f"{line_url}/_sandbox/login",  # the LIFF stand-in's sign-in page
    }
    worker_env = {**env, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "ESA_PUBLIC_URL": base}
    try:
        yield {"env": env, "worker_env": worker_env, "line": line_url, "ecpay": ecpay_url, "iak": iak_url}
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def dashboard_url(
    database_url: str, redis_url: str, chromium_path: str, dashboard_port: int, dashboard_sims: dict
) -> Iterator[str]:
    """Start `reflex run --env prod --single-port` on a free port; yield its base URL."""
    port = dashboard_port
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "REFLEX_USE_NPM": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_ENV": "test",
        "ESA_PUBLIC_URL": f"http://127.0.0.1:{port}",  # the only origin the dashboard's websocket accepts
        **dashboard_sims["env"],
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "e2e-app.log", "wb")  # noqa: SIM115  (closed at teardown)
    started = time.monotonic()
    proc = subprocess.Popen(
        [f"{venv_bin}/reflex", "run", "--env", "prod", "--single-port", "--backend-port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown stops the node helpers it spawns too
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the dashboard exited with {proc.returncode}; see {ARTIFACTS / 'e2e-app.log'}")
            try:
                if httpx.get(f"{base}/login", timeout=2, follow_redirects=True).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the dashboard did not come up within 10 minutes")
            time.sleep(1)
        print(f"\ndashboard built and up in {time.monotonic() - started:.0f} s on {base}")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")  # closed before other modules start their own Playwright
def dashboard_browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def dashboard_page(dashboard_browser):
    context = dashboard_browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(20000)
    yield pg
    context.close()
