"""Evidence beats review on the order page, in a real browser: each item says the supplier's last word in plain
words above the raw exchanges; "Not delivered" for an item IAK says it delivered shows that word and is refused
for an operator; an admin may override it with a reason, and the evidence lands in the audit row."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlmodel import Session

from esa_domain.models import ItemAttempt, OperatorAction, PaymentItem, SupplierExchange
from tests.e2e import builders
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(db):
    return builders.demo(db)


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", builders.PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#whoami")).to_have_text(username.title())


def _iak_said_delivered(db, item_id: int) -> str:
    """IAK's signed SUCCESS callback on record for the item's attempt (as a release before the fix kept it,
    unable to apply it to an item in review). Returns the attempt's reference."""
    with Session(db) as s:
        attempt = s.execute(select(ItemAttempt).where(ItemAttempt.item_id == item_id)).scalar_one()
        s.add(
            SupplierExchange(
                supplier_id=attempt.supplier_id,
                attempt_id=attempt.id,
                operation="callback",
                method="POST",
                url="/callbacks/iak",
                request_json={"data": {"ref_id": attempt.reference, "status": "1", "rc": "00"}},
                response_json={"verdict": "apply", "outcome": "SUCCESS"},
                http_status=200,
                outcome="SUCCESS",
            )
        )
        s.commit()
        return attempt.reference


def test_the_supplier_s_last_word_is_shown_and_not_delivered_needs_an_admin_override(
    dashboard_url, dashboard_page, db, demo
):
    app_url, page = dashboard_url, dashboard_page
    item = demo["review_item"]
    reference = _iak_said_delivered(db, item)
    _login(page, app_url, "ops")
    page.goto(f"{app_url}/orders/{demo['review']}")
    word = page.locator(f"#last-word-{item}")
    expect(word).to_contain_text("iak says DELIVERED (signed callback")
    expect(word).to_contain_text(reference)
    # the plain words come before the raw exchanges (the timeline)
    assert page.locator("#last-words").bounding_box()["y"] < page.locator("#timeline").bounding_box()["y"]

    page.click(f"#resolve-fail-{item}")
    expect(page.locator("#action-evidence")).to_contain_text("iak says DELIVERED")
    page.screenshot(path=str(ARTIFACTS / "order-review-evidence.png"), full_page=True)
    page.fill("#action-reason", "customer says nothing arrived")
    page.click("#action-confirm")
    expect(page.locator("#action-error")).to_contain_text("cannot be marked not delivered")
    page.fill("#action-reason", "customer says nothing arrived")
    page.click("#action-override")
    page.click("#action-confirm")
    expect(page.locator("#action-error")).to_contain_text("admin")
    with Session(db) as s:
        assert s.get(PaymentItem, item).status == "NEEDS_REVIEW"
        assert not [a for a in s.execute(select(OperatorAction)).scalars() if a.action == "resolve_review"]

    page.get_by_role("button", name="Cancel").click()
    page.click("#logout")
    _login(page, app_url, "admin")
    page.goto(f"{app_url}/orders/{demo['review']}")
    page.click(f"#resolve-fail-{item}")
    page.fill("#action-reason", "IAK support confirmed they reversed it")
    page.click("#action-override")
    page.click("#action-confirm")
    expect(page.locator("#flash")).to_contain_text("resolved as FAILED")
    page.screenshot(path=str(ARTIFACTS / "order-review-override.png"), full_page=True)
    with Session(db) as s:
        assert s.get(PaymentItem, item).status == "FAILED"
        (action,) = [a for a in s.execute(select(OperatorAction)).scalars() if a.action == "resolve_review"]
    assert action.reason == "IAK support confirmed they reversed it"
    assert action.detail["overrode_supplier_evidence"]["delivered_by"].startswith(f"iak {reference}")
