"""The API as a web process told to die at a chosen point (a test-side hook; production code has none).

`uvicorn --factory tests.proof.crash_app:make_app` with ESA_PROOF_CRASH=after_paid_commit: the process
SIGKILLs itself right after the first commit that wrote `fulfill_item` outbox rows (the PAID commit),
before dispatching them.
"""

from __future__ import annotations

import os
import signal

from fastapi import FastAPI
from sqlalchemy import select

from esa_api import create_app
from esa_domain.infra.db import OUTBOX_IDS, UnitOfWork
from esa_domain.models import OutboxMessage

CRASH_ENV = "ESA_PROOF_CRASH"
AFTER_PAID_COMMIT = "after_paid_commit"


def _install_after_paid_commit() -> None:
    original = UnitOfWork.commit

    def commit(self: UnitOfWork) -> None:
        ids = list(self.session.info.get(OUTBOX_IDS, []))
        if ids:
            topics = self.session.execute(
                select(OutboxMessage.topic).where(OutboxMessage.id.in_(ids))
            ).scalars()
            if "fulfill_item" in set(topics):
                self.session.commit()  # the PAID transition and its outbox rows are durable now...
                os.kill(os.getpid(), signal.SIGKILL)  # ...and the process dies before dispatching them
        original(self)

    UnitOfWork.commit = commit  # type: ignore[method-assign]


def make_app() -> FastAPI:
    """The production app, with the crash point named by ESA_PROOF_CRASH installed around it."""
    if os.environ.get(CRASH_ENV) == AFTER_PAID_COMMIT:
        _install_after_paid_commit()
    return create_app()
