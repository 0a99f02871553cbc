"""The demo LINE Mini App: static HTML, JS and CSS served at /app, talking to /api/v1."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def mount(app: FastAPI, path: str = "/app") -> None:
    """Serve the Mini App at `path` (index.html for the directory)."""
    app.mount(path, StaticFiles(directory=STATIC_DIR, html=True), name="miniapp")
