"""URL builders shared by the dashboard and the alerts (a LINE alert's button opens the same page)."""

from __future__ import annotations


def order_path(payment_id: int) -> str:
    return f"/orders/{payment_id}"


def order_url(public_url: str, payment_id: int) -> str:
    return public_url.rstrip("/") + order_path(payment_id)
