"""The demo's simulators, configured from the environment `esa up` prepared (uvicorn --factory sandbox.demo:app)."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from sandbox.app import PULSAIF_CALLBACK_SECRET_DEFAULT, create_sandbox_app


def app() -> Starlette:
    return create_sandbox_app(
        os.environ.get("ESA_PUBLIC_URL", "http://127.0.0.1:3000"),
        pulsaif_callback_secret=os.environ.get("PULSAIF_CALLBACK_SECRET", PULSAIF_CALLBACK_SECRET_DEFAULT),
    )
