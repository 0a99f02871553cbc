"""The orders search's date filters: a date out of range or no date at all is a message, never an exception."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlmodel import Session

from esa_domain.core.errors import InvalidRequest
from esa_domain.views.orders import OrderFilter, search_orders
from tests.e2e import builders


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [(None, date(9999, 12, 31)), (date(1, 1, 1), None), (date(2019, 12, 31), None), (None, date(2101, 1, 1))],
)
def test_a_date_outside_the_sane_range_is_a_message_not_an_overflow(db, date_from, date_to):
    with Session(db) as s, pytest.raises(InvalidRequest) as refused:
        search_orders(s, OrderFilter(date_from=date_from, date_to=date_to))
    assert "out of range" in refused.value.message and "2020-01-01" in refused.value.message


def test_from_after_to_is_a_message(db):
    with Session(db) as s, pytest.raises(InvalidRequest) as refused:
        search_orders(s, OrderFilter(date_from=date(2026, 2, 1), date_to=date(2026, 1, 1)))
    assert "is after To" in refused.value.message


def test_days_in_range_still_filter(db):
    placed = builders.demo(db)
    with Session(db) as s:
        everything = search_orders(
            s, OrderFilter(date_from=date(2020, 1, 1), date_to=date(2100, 12, 31)), limit=100
        )
    assert placed["review"] in [r.id for r in everything.rows]


def _orders_page(date_from: str, date_to: str):
    """The orders page's state as the search event leaves it (the Reflex state's own methods, no browser)."""
    from esa_admin.pages.orders import OrdersState

    state = SimpleNamespace(q="", status="ALL", date_from=date_from, date_to=date_to, rows=[{"id": "stale"}])
    state.error, state.next_cursor = "", "x"
    state._filter = lambda: OrdersState._filter(state)
    OrdersState._fetch(state, "")
    return state


@pytest.mark.parametrize(
    ("date_from", "date_to", "message"),
    [
        ("", "9999-12-31", "To date 9999-12-31 is out of range"),
        ("1999-01-01", "", "From date 1999-01-01 is out of range"),
        ("31/01/2026", "", "From date '31/01/2026' is not a date: write it like 2026-01-31."),
        ("2026-02-30", "", "not a date"),
    ],
)
def test_the_orders_page_shows_a_message_for_a_bad_date(db, monkeypatch, date_from, date_to, message):
    monkeypatch.setattr("esa_admin.pages.orders.default_engine", lambda: db)  # the test database
    page = _orders_page(date_from, date_to)
    assert message in page.error
    assert (page.rows, page.next_cursor) == ([], "")


def test_the_orders_page_lists_orders_for_good_dates(db, monkeypatch):
    placed = builders.demo(db)
    monkeypatch.setattr("esa_admin.pages.orders.default_engine", lambda: db)
    page = _orders_page("2020-01-01", "2100-12-31")
    assert page.error == ""
    assert str(placed["review"]) in [r["id"] for r in page.rows]
