"""Pushing to LINE (line-bot-sdk v3 Messaging API): operator alerts (a flex bubble with an "Open order" button)
and customer messages (plain texts, each value to copy in a message of its own).

The base URL is configurable: production uses https://api.line.me, the demo and the tests the LINE sandbox.
The channel access token is never logged nor put in an error message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexMessage,
    FlexText,
    MessagingApi,
    PushMessageRequest,
    URIAction,
)
from linebot.v3.messaging.exceptions import ApiException

log = logging.getLogger(__name__)

LINE_API_BASE_URL = "https://api.line.me"
_ALT_TEXT_MAX = 400  # LINE's limit on a flex message's altText


@dataclass(frozen=True)
class AlertMessage:
    title: str
    body: str
    link: str | None  # the order's page in the dashboard; no button without it


class PushOutcome(StrEnum):
    SENT = "sent"  # LINE accepted it now
    ALREADY_ACCEPTED = "already accepted"  # 409 for a reused retry key: an earlier try got through


class PushUnavailable(Exception):
    """A transient failure (network, 5xx, 429): the message may be retried with the same retry key."""


class PushRejected(Exception):
    """LINE refused the message for good (bad token, bad body, unknown recipient): retrying will not help."""


class PushQuotaExhausted(PushRejected):
    """The channel's monthly message limit is used up (429 "You have reached your monthly limit."): no push
    gets through until next month or a bigger plan."""


class AlertPusher(Protocol):
    def push(self, to: str, message: AlertMessage, *, retry_key: str) -> PushOutcome: ...


class TextPusher(Protocol):
    def push_texts(self, to: str, texts: list[str], *, retry_key: str) -> PushOutcome: ...


_TEXT_MAX = 5000  # LINE's limit on one text message
_MESSAGES_MAX = 5  # LINE's limit on messages per push


def alert_flex(message: AlertMessage) -> FlexMessage:
    """The bubble: the title in bold, the body, and an "Open order" button when there is a link."""
    body = FlexBox(
        layout="vertical",
        spacing="md",
        contents=[
            FlexText(text=message.title, weight="bold", size="md", wrap=True),
            FlexText(text=message.body, size="sm", wrap=True),
        ],
    )
    footer = None
    if message.link:
        button = FlexButton(style="primary", action=URIAction(label="Open order", uri=message.link))
        footer = FlexBox(layout="vertical", contents=[button])
    alt = f"{message.title}: {message.body}"[:_ALT_TEXT_MAX]
    return FlexMessage(alt_text=alt, contents=FlexBubble(body=body, footer=footer))


def _line_message(body: bytes | str | None) -> str:
    try:
        return str(json.loads(body or b"{}").get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""


class LinePusher:
    """Sends pushes through the Messaging API.

    `access_token`: the channel access token (a secret). `base_url`: LINE's API host, or the sandbox's URL.
    `timeout`: seconds for the whole request.
    """

    def __init__(self, access_token: str, base_url: str = LINE_API_BASE_URL, timeout: float = 10.0) -> None:
        self._config = Configuration(host=base_url.rstrip("/"), access_token=access_token)
        self._config.retries = 0  # retries are the actor's, each with the same retry key
        self.base_url = base_url
        self._timeout = timeout
        # one client (and its urllib3 connection pool) for the pusher's life: a worker reuses its connection
        # to LINE instead of opening one per message; urllib3's pool is thread-safe
        self._client = ApiClient(self._config)
        self._api = MessagingApi(self._client)
        # customer texts, one push per order, go straight through urllib3 (the generated client's own transport):
        # the SDK's per-call layers (argument validation, model building and serializing) cost more CPU than
        # the request itself; alerts, rare and built from flex models, keep the SDK
        self._push_url = f"{base_url.rstrip('/')}/v2/bot/message/push"
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
            "User-Agent": "esa-line-push/1",
        }
        self._pool = urllib3.PoolManager(maxsize=8, retries=False, timeout=urllib3.Timeout(total=timeout))

    def __repr__(self) -> str:  # the token stays out of reprs and tracebacks
        return f"LinePusher(base_url={self.base_url!r})"

    def push(self, to: str, message: AlertMessage, *, retry_key: str) -> PushOutcome:
        """Push `message` to `to` (a user, group or room id). `retry_key`: a UUID, the same on every retry.

        Raises PushUnavailable (retry later) or PushRejected (will not succeed).
        """
        return self._send(PushMessageRequest(to=to, messages=[alert_flex(message)]), retry_key)

    def push_texts(self, to: str, texts: list[str], *, retry_key: str) -> PushOutcome:
        """Push up to five text messages in one request (one retry key for all of them): the first tells, each
        further one holds one value alone, so a long press in LINE copies exactly it."""
        messages = [{"type": "text", "text": t[:_TEXT_MAX]} for t in texts if t][:_MESSAGES_MAX]
        body = json.dumps({"to": to, "messages": messages}, ensure_ascii=False).encode()
        try:
            reply = self._pool.request(
                "POST", self._push_url, body=body, headers={**self._headers, "X-Line-Retry-Key": retry_key}
            )
        except urllib3.exceptions.HTTPError as exc:
            raise PushUnavailable(f"LINE could not be reached: {type(exc).__name__}") from None
        if reply.status < 300:
            return PushOutcome.SENT
        return _refused(reply.status, reply.data, reply.reason)

    def _send(self, request: PushMessageRequest, retry_key: str) -> PushOutcome:
        try:
            self._api.push_message(request, x_line_retry_key=retry_key, _request_timeout=self._timeout)
        except ApiException as exc:
            status, body, reason = exc.status or 0, exc.body, exc.reason
        except urllib3.exceptions.HTTPError as exc:
            raise PushUnavailable(f"LINE could not be reached: {type(exc).__name__}") from None
        else:
            return PushOutcome.SENT
        return _refused(status, body, reason)  # outside the handler: no SDK exception chained to ours


def _refused(status: int, body: bytes | str | None, reason: str | None) -> PushOutcome:
    """LINE's answer to a push it did not accept now: ALREADY_ACCEPTED (409, the retry key was used by a try
    that got through), or the exception that says whether to retry."""
    if status == 409:
        return PushOutcome.ALREADY_ACCEPTED
    said = _line_message(body)
    why = f"LINE answered HTTP {status}: {said or reason}"
    if status == 429 and "monthly limit" in said.lower():
        raise PushQuotaExhausted(why)
    if status == 429 or status >= 500:
        raise PushUnavailable(why)
    raise PushRejected(why)
