"""The ESA HTTP API: an ASGI app of its own (tests and benchmarks drive it directly) that Reflex also mounts."""

from esa_api.app import create_app

__all__ = ["create_app"]
