"""Delivering a queued operator alert to LINE once, whatever the retries.

Every try of one alert carries the alert's own retry key (X-Line-Retry-Key): if an earlier try reached LINE
but its answer was lost, LINE answers 409 and the alert is marked sent without a second message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from esa_domain.adapters.line.push import (
    AlertMessage,
    AlertPusher,
    PushOutcome,
    PushRejected,
    PushUnavailable,
)
from esa_domain.core.transitions import NotFound
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
QUEUED, SENT, FAILED = "queued", "sent", "failed"


def _finish(uow_factory: UowFactory, alert_id: int, status: str, error: str | None) -> str:
    with uow_factory() as uow:
        alert = uow.session.get(Alert, alert_id, with_for_update=True)
        assert alert is not None
        if alert.status != SENT:  # a concurrent try that got through wins
            alert.status = status
            alert.error = error[:300] if error else None
            if status == SENT:
                alert.sent_at = datetime.now(UTC)
        uow.commit()
        return alert.status


def send_alert(uow_factory: UowFactory, alert_id: int, pusher: AlertPusher, to: str) -> str:
    """Push one queued alert to LINE; returns its status afterwards ("sent", "failed" or "queued").

    `pusher`: the LINE adapter (`LinePusher`). `to`: the operators' LINE user or group id.
    A sent or permanently refused alert is left alone. Raises PushUnavailable after recording the error when
    LINE could not be reached or answered 5xx/429, so the actor retries (with the same retry key).
    Raises NotFound for an unknown alert id.
    """
    with uow_factory() as uow:
        alert = uow.session.get(Alert, alert_id)
        if alert is None:
            raise NotFound(f"alert {alert_id} does not exist")
        if alert.status != QUEUED:
            return alert.status
        message = AlertMessage(alert.title, alert.body, alert.link)
        retry_key = alert.retry_key
    if not to:
        # kept queued: once the recipient is configured, a re-sent message delivers it
        _finish(uow_factory, alert_id, QUEUED, "no LINE recipient configured (set LINE_ALERT_TO)")
        return QUEUED
    try:
        outcome = pusher.push(to, message, retry_key=retry_key)
    except PushUnavailable as exc:
        _finish(uow_factory, alert_id, QUEUED, f"will retry: {exc}")
        raise
    except PushRejected as exc:
        log.warning("LINE refused alert %s: %s", alert_id, exc)
        return _finish(uow_factory, alert_id, FAILED, str(exc))
    note = (
        "LINE had accepted an earlier try (409 for the retry key)"
        if outcome is PushOutcome.ALREADY_ACCEPTED
        else None
    )
    return _finish(uow_factory, alert_id, SENT, note)
