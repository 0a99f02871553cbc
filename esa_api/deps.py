"""Request-scoped access to the runtime: a test's on `app.state.runtime`, else the process's (built once)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from esa_domain.infra.runtime import Runtime, process_runtime


def runtime_for(app: Any) -> Runtime:
    """The app's runtime: installed by a test on `app.state.runtime`, else the process's, from the settings."""
    state = app.state
    if getattr(state, "runtime", None) is None:
        state.runtime = process_runtime()
    return state.runtime


async def get_runtime(request: Request) -> Runtime:
    # async, though it never awaits: FastAPI would run a plain `def` dependency in the thread pool
    return runtime_for(request.app)
