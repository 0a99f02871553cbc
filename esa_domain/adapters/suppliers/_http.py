"""Timed, redacted HTTP calls for supplier adapters.

Every adapter sends its requests through `timed_request`, which never raises for a network problem: a
timeout or a reset comes back as `(None, exchange)` with the error text, so the adapter can map it to
UNKNOWN. The returned `Exchange` has secrets and signatures replaced by `REDACTED` and is safe to store.
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from esa_domain.adapters.suppliers.base import Exchange

# httpx logs every request's full URL at INFO, and supplier URLs carry signatures and keys in their query
# strings: the redacted Exchange is the record, so httpx may only speak up about problems (and costs nothing)
logging.getLogger("httpx").setLevel(logging.WARNING)

REDACTED = "***"
MAX_TEXT_CHARS = 4000  # a non-JSON body is kept for the record, but not an unbounded one

# Names that are secret wherever they appear (compared lower-cased); callers add their own.
DEFAULT_REDACT_KEYS: frozenset[str] = frozenset(
    {
        "authorization",
        "sign",
        "signature",
        "x-signature",
        "api_key",
        "apikey",
        "api_secret",
        "secret",
        "client_secret",
        "password",
        "pin",
        "accesstoken",
        "access_token",
        "x-client-secret",
    }
)


def build_timeout(connect_s: float = 3.0, read_s: float = 15.0) -> httpx.Timeout:
    """A client timeout: `connect_s` to open the connection, `read_s` for each read and write."""
    return httpx.Timeout(connect=connect_s, read=read_s, write=read_s, pool=connect_s)


def build_client(
    *,
    transport: httpx.BaseTransport | None = None,
    connect_timeout_s: float = 3.0,
    read_timeout_s: float = 15.0,
    auth: httpx.Auth | tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """An httpx client for one supplier; `transport` lets tests route it to an in-process simulator."""
    return httpx.Client(
        transport=transport,
        timeout=build_timeout(connect_timeout_s, read_timeout_s),
        auth=auth,
        headers=dict(headers or {}),
        follow_redirects=False,
    )


def redact(value: Any, keys: Iterable[str] = ()) -> Any:
    """A deep copy of `value` with every dict entry whose name is in `keys` (or the defaults) masked."""
    names = DEFAULT_REDACT_KEYS | {k.lower() for k in keys}
    return _redact(value, names)


def _redact(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in names else _redact(v, names)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, names) for v in value]
    return value


def redact_url(url: str, keys: Iterable[str] = ()) -> str:
    """`url` with secret query parameters masked (also strips user:password from the netloc)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not parts.query:
        return urlunsplit(parts._replace(netloc=netloc))
    query = redact(dict(parse_qsl(parts.query, keep_blank_values=True)), keys)
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def parse_body(response: httpx.Response) -> Any | None:
    """The response body as JSON, or None when it is not valid JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def timed_request(
    client: httpx.Client,
    operation: str,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    redact_keys: Iterable[str] = (),
) -> tuple[httpx.Response | None, Exchange]:
    """Send one request and record it.

    `operation` names the call for the audit trail (purchase | status | catalog | balance | token);
    `redact_keys` adds supplier-specific secret field names to the defaults. Returns the response (None on
    timeout or connection error) and the redacted `Exchange` with latency in milliseconds.
    """
    keys = tuple(redact_keys)
    record: dict[str, Any] = {}
    if params:
        record["params"] = redact(dict(params), keys)
    if headers:
        record["headers"] = redact(dict(headers), keys)
    if json is not None:
        record["body"] = redact(json, keys)
    started = time.perf_counter()
    try:
        response = client.request(method, url, json=json, params=params, headers=headers)
    except httpx.HTTPError as exc:  # timeout, reset, refused: the caller maps it to UNKNOWN
        latency = int((time.perf_counter() - started) * 1000)
        return None, Exchange(
            operation=operation,
            method=method.upper(),
            url=redact_url(str(client.base_url.join(url)) if client.base_url else url, keys),
            request=record or None,
            response=None,
            http_status=None,
            latency_ms=latency,
            error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        )
    latency = int((time.perf_counter() - started) * 1000)
    body = parse_body(response)
    stored: dict[str, Any] | str | None
    if body is None:
        stored = response.text[:MAX_TEXT_CHARS]
    elif isinstance(body, dict):
        stored = redact(body, keys)
    else:  # a JSON list or scalar: wrap it so the record stays a dict or a string
        stored = jsonlib.dumps(redact(body, keys))[:MAX_TEXT_CHARS]
    return response, Exchange(
        operation=operation,
        method=method.upper(),
        url=redact_url(str(response.request.url), keys),
        request=record or None,
        response=stored,
        http_status=response.status_code,
        latency_ms=latency,
    )
