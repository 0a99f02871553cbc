"""One logging configuration for every ESA process: JSON lines in production, readable lines in the demo.

Every record carries the fields of what is being worked on (`request_id`, `payment_id`, `item_id`,
`attempt_id`, `supplier`, `actor` ...), bound in a context variable:

- the web app binds `request_id` per request (esa_api/customer/request_id.py) and the payment once known;
- the outbox's publisher copies the bound request id into the dramatiq message's options, and the worker's
  middleware (workers/middleware.py) binds it again, with the message's own ids, around each message;
- the fulfillment engine binds the payment and the supplier it calls.

The bound fields live in one dict per request or message; `run_in_threadpool` copies the context, not the dict,
so a field bound inside a request's thread is on the request's later lines too.

Secrets never reach the output: every configured secret (settings' SecretStr values: ECPay keys, supplier keys
and PINs, LINE tokens, the customer token secret) is masked in each formatted line, a net under the rule that
code never logs them. python-json-logger writes the JSON (exceptions, extra fields and reserved attributes
handled, a maintained library rather than a hand-rolled json.dumps formatter).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from pythonjsonlogger.json import JsonFormatter

MASK = "***"
# the fields a line may carry, in the order readable lines show them
FIELDS = ("request_id", "payment_id", "item_id", "attempt_id", "supplier", "alert_id", "actor")
# what a published message carries to the worker (the rest the worker reads from the message itself)
CARRIED = ("request_id", "payment_id")

_fields: ContextVar[dict[str, Any] | None] = ContextVar("esa_log_fields", default=None)
_HANDLER_FLAG = "_esa_handler"


def bind(**fields: Any) -> None:
    """Add fields to what is being worked on now (the current request's or message's dict)."""
    current = _fields.get()
    if current is None:
        current = {}
        _fields.set(current)
    for key, value in fields.items():
        if value is not None:
            current[key] = value


def enter(fields: dict[str, Any]) -> Token[dict[str, Any] | None]:
    """Start a unit of work (a request, a message) with its own fields; `leave(token)` ends it."""
    return _fields.set({k: v for k, v in fields.items() if v is not None})


def leave(token: Token[dict[str, Any] | None]) -> None:
    _fields.reset(token)


@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    token = enter({**(_fields.get() or {}), **fields})
    try:
        yield
    finally:
        leave(token)


def current() -> dict[str, Any]:
    return dict(_fields.get() or {})


def carried() -> dict[str, Any]:
    """The fields a message published now takes along to the worker."""
    bound = _fields.get()
    if not bound:
        return {}
    return {k: bound[k] for k in CARRIED if k in bound}


def install_record_factory() -> None:
    """Give every record `esa_fields` (the bound fields) and `request_id` ('-' outside a request); idempotent."""
    old = logging.getLogRecordFactory()
    if getattr(old, "_esa_fields", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old(*args, **kwargs)
        bound = _fields.get()
        record.esa_fields = bound or {}
        record.request_id = (bound or {}).get("request_id", "-")
        return record

    factory._esa_fields = True  # type: ignore[attr-defined]
    factory._esa_request_id = True  # type: ignore[attr-defined]  (esa_api's older factory: already covered)
    logging.setLogRecordFactory(factory)


class _Masking:
    secrets: tuple[str, ...] = ()

    def _mask(self, line: str) -> str:
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, MASK)
        return line


class TextFormatter(_Masking, logging.Formatter):
    """`2026-12-02 01:02:03,456 INFO esa_api.access [request_id=... item_id=...] message`"""

    def __init__(self, process_kind: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(esa_context)s %(message)s")
        self.process_kind = process_kind

    def format(self, record: logging.LogRecord) -> str:
        bound = getattr(record, "esa_fields", None) or {}
        pairs = " ".join(f"{k}={bound[k]}" for k in FIELDS if k in bound)
        record.esa_context = f" [{self.process_kind} {pairs}]" if pairs else f" [{self.process_kind}]"
        return self._mask(super().format(record))


class JsonLineFormatter(_Masking, JsonFormatter):
    """One JSON object per line: time, level, logger, message, process kind and the bound fields."""

    def __init__(self, process_kind: str) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"process": process_kind},
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        bound = log_data.pop("esa_fields", None) or {}
        log_data.pop("esa_context", None)
        log_data.pop("request_id", None)
        log_data.update(bound)

    def format(self, record: logging.LogRecord) -> str:
        return self._mask(super().format(record))


def _configured_secrets(settings: Any) -> tuple[str, ...]:
    """Every SecretStr value in the settings and the suppliers' settings (4 characters or more)."""
    from pydantic import SecretStr

    found: set[str] = set()

    def collect(obj: Any) -> None:
        for name in type(obj).model_fields:
            value = getattr(obj, name, None)
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                if len(secret) >= 4:
                    found.add(secret)

    collect(settings)
    try:
        from esa_domain.adapters.suppliers.registry import supplier_settings

        for each in (settings.suppliers or supplier_settings()).values():
            collect(each)
    except Exception:  # noqa: S110 (a supplier's settings that fail to read are reported where they are used)
        pass
    return tuple(sorted(found, key=len, reverse=True))


def configure_logging(process_kind: str, *, settings: Any = None, extra_secrets: Iterable[str] = ()) -> None:
    """Route every logger of this process through one handler on stderr, in the configured format.

    `process_kind`: web | worker | scheduler | cli. Idempotent: a second call replaces ESA's handler only,
    leaving any other handler (a test runner's) in place. Libraries that install their own handlers
    (uvicorn, dramatiq, periodiq) are routed through it too.
    """
    if settings is None:
        from esa_domain.infra.settings import get_settings

        settings = get_settings()
    install_record_factory()
    fmt = (settings.log_format or ("json" if settings.environment == "production" else "text")).lower()
    formatter: _Masking = JsonLineFormatter(process_kind) if fmt == "json" else TextFormatter(process_kind)
    secrets = {*_configured_secrets(settings), *(s for s in extra_secrets if len(s) >= 4)}
    formatter.secrets = tuple(
        sorted(secrets, key=len, reverse=True)
    )  # a secret inside another: the longer first
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_FLAG, False) or _is_library_default(handler):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_FLAG, True)
    handler.setFormatter(formatter)  # type: ignore[arg-type]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq", "periodiq"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    # the access line is ours (esa_api.access, with the request id); uvicorn's would repeat it without one
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the readiness check's script read: plugin lines


def _is_library_default(handler: logging.Handler) -> bool:
    """dramatiq's and periodiq's basicConfig handlers (a plain StreamHandler with their format)."""
    fmt = getattr(handler.formatter, "_fmt", "") or ""
    return type(handler) is logging.StreamHandler and ("%(threadName)s" in fmt or "%(process)d" in fmt)
