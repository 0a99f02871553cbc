"""One module per dashboard page, each with its state beside it; esa_admin.py adds every page to the app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import reflex as rx
from reflex_base.event import EventType


@dataclass(frozen=True)
class DashboardPage:
    """A page of the dashboard: what it renders, where it lives, its tab title, and what runs when it opens.

    Pages are added with `add_to`, once, rather than with `@rx.page`: Reflex re-adds `@rx.page` pages on every
    compile, and the production server compiles the app it forks its workers from once more in each worker,
    which logged "Page X is being redefined" for every page.
    """

    render: Callable[[], rx.Component]
    route: str
    title: str
    on_load: Sequence[EventType[()]] = field(default_factory=tuple)

    def add_to(self, app: rx.App) -> None:
        app.add_page(self.render, route=self.route, title=self.title, on_load=list(self.on_load))
