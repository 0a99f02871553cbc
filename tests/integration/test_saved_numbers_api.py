"""Item 6 of issue 17 over real HTTP (our API under uvicorn, real PostgreSQL and Redis): the number typed first
with its operator detected from IAK's prefix list and the products filtered to it; saved numbers with a name
per customer; buying a past order again; a finished order's receipt, each in the customer's language."""

from __future__ import annotations

import uuid

import httpx
from sqlmodel import Session, select

from esa_domain.adapters.suppliers.base import Delivery
from esa_domain.core.states import ItemStatus
from esa_domain.core.transitions import transition_item
from esa_domain.fulfillment.delivery import store_delivery
from esa_domain.models import (
    Payment,
    PaymentItem,
    Product,
    ProductCategory,
    SavedNumber,
    Supplier,
    SupplierOffer,
)
from esa_domain.ordering.saved_numbers import MAX_SAVED
from esa_domain.payments.settlement import settle_payment
from tests.integration import test_customer_side as customer_side

stack = customer_side.stack  # the fixture: our API, the ECPay and LINE simulators, a signed-in customer


def _indosat(db) -> None:
    """An Indosat product beside the catalogue's Telkomsel one, so a filter has something to leave out."""
    with Session(db) as s:
        cat = s.exec(select(ProductCategory).where(ProductCategory.code == "pulsa")).one()
        iak = s.exec(select(Supplier).where(Supplier.code == "iak")).one()
        p = Product(code="ISAT10", category_id=cat.id, name="Indosat 10.000", price_twd=25, nominal_idr=10000,
                    target_kind="phone")  # fmt: skip
        s.add(p)
        s.flush()
        s.add(
            SupplierOffer(supplier_id=iak.id, product_id=p.id, supplier_sku="hindosat10000", cost_idr=10300)
        )
        s.commit()


def _get(stack, path: str, lang: str = "en", **params) -> httpx.Response:
    return httpx.get(f"{stack.api}{path}", params=params, headers={**stack.auth, "Accept-Language": lang})


def test_the_number_typed_first_finds_its_operator_and_that_operators_products(stack):
    _indosat(stack.db)
    # IAK's prefix list (iak-id/iak-api-reference-docs docs/prepaid/prefix-list.md):
    # "TELKOMSEL ( htelkomsel, tseldata) | 0812,0813,0852,0853,0821,0823,0822,0851"
    # "INDOSAT ( hindosat, isatdata ) | 0814,0815,0816,0855,0856,0857,0858"
    r = _get(stack, "/api/v1/numbers/detect", number="+62 812-3456-7890")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["number"], body["operator"], body["operator_name"]) == (
        "081234567890",
        "telkomsel",
        "Telkomsel",
    )
    assert body["product_codes"] == ["TSEL10"] and body["saved_name"] is None

    body = _get(stack, "/api/v1/numbers/detect", number="085612345678").json()
    assert (body["operator"], body["product_codes"]) == ("indosat", ["ISAT10"])

    # a prefix IAK does not list: no operator, nothing hidden on a guess
    body = _get(stack, "/api/v1/numbers/detect", number="08101234567").json()
    assert body["operator"] is None and sorted(body["product_codes"]) == ["ISAT10", "TSEL10"]

    # not a number: said in the customer's words and language
    for lang, words in (
        ("id", "Nomor HP Indonesia dimulai dengan 08"),
        ("en", "not an Indonesian mobile number"),
        ("zh-Hant", "08"),
    ):
        r = _get(stack, "/api/v1/numbers/detect", lang, number="12345")
        assert r.status_code == 422 and words in r.json()["detail"], (lang, r.text)


def test_saved_numbers_are_named_per_customer_renamed_and_deleted(stack):
    api, auth = stack.api, stack.auth
    r = httpx.post(
        f"{api}/api/v1/saved-numbers", json={"name": " Ibu ", "number": "+6281234567890"}, headers=auth
    )
    assert r.status_code == 201, r.text
    ibu = r.json()
    assert (ibu["name"], ibu["number"], ibu["operator_name"]) == ("Ibu", "081234567890", "Telkomsel")
    meter = httpx.post(f"{api}/api/v1/saved-numbers", json={"name": "Rumah", "number": "12345678901",
                                                            "kind": "pln_meter"}, headers=auth).json()  # fmt: skip
    assert meter["kind"] == "pln_meter" and meter["operator"] is None

    # saving the same number again renames it: one row
    again = httpx.post(
        f"{api}/api/v1/saved-numbers", json={"name": "Mama", "number": "081234567890"}, headers=auth
    )
    assert again.status_code == 201 and again.json()["id"] == ibu["id"]
    listed = _get(stack, "/api/v1/saved-numbers").json()
    assert [(n["name"], n["number"]) for n in listed["numbers"]] == [
        ("Mama", "081234567890"),
        ("Rumah", "12345678901"),
    ]
    assert listed["limit"] == MAX_SAVED
    assert _get(stack, "/api/v1/numbers/detect", number="0812 3456 7890").json()["saved_name"] == "Mama"

    r = httpx.put(f"{api}/api/v1/saved-numbers/{ibu['id']}", json={"name": "Ibu"}, headers=auth)
    assert r.status_code == 200 and r.json()["name"] == "Ibu"

    # a name left empty: in words, in the customer's language; nothing written
    r = httpx.post(f"{api}/api/v1/saved-numbers", json={"name": "   ", "number": "081299998888"},
                   headers={**auth, "Accept-Language": "id"})  # fmt: skip
    assert r.status_code == 422 and "misalnya Ibu atau Adik" in r.json()["detail"]
    r = httpx.post(f"{api}/api/v1/saved-numbers", json={"name": "", "number": "081299998888"},
                   headers={**auth, "Accept-Language": "zh-Hant"})  # fmt: skip
    assert r.status_code == 422 and "名稱" in r.json()["detail"]

    # another customer neither sees nor deletes them
    mine = dict(auth)
    other = stack.sign_in("U-siti")
    assert _get(stack, "/api/v1/saved-numbers").json()["numbers"] == []
    r = httpx.delete(f"{api}/api/v1/saved-numbers/{ibu['id']}", headers=other)
    assert r.status_code == 404 and r.json()["code"] == "saved_number_not_found"

    r = httpx.delete(f"{api}/api/v1/saved-numbers/{ibu['id']}", headers=mine)
    assert r.status_code == 204
    with Session(stack.db) as s:
        assert [n.name for n in s.exec(select(SavedNumber)).all()] == ["Rumah"]


def test_at_most_the_limit_of_numbers_is_kept_and_the_refusal_says_so(stack):
    for i in range(MAX_SAVED):
        r = httpx.post(f"{stack.api}/api/v1/saved-numbers", json={"name": f"Teman {i}", "number": f"0812000000{i:02d}"},
                       headers=stack.auth)  # fmt: skip
        assert r.status_code == 201, r.text
    r = httpx.post(f"{stack.api}/api/v1/saved-numbers", json={"name": "Adik", "number": "081299990000"},
                   headers={**stack.auth, "Accept-Language": "id"})  # fmt: skip
    assert r.status_code == 409 and f"{MAX_SAVED} nomor" in r.json()["detail"]
    with Session(stack.db) as s:
        assert len(s.exec(select(SavedNumber)).all()) == MAX_SAVED


def test_buy_again_places_a_new_order_of_the_same_numbers_once_per_key(stack):
    order = stack.order()
    key = str(uuid.uuid4())
    headers = {**stack.auth, "Idempotency-Key": key, "Accept-Language": "en"}
    r = httpx.post(f"{stack.api}/api/v1/orders/{order['id']}/again", headers=headers)
    assert r.status_code == 201, r.text
    again = r.json()
    assert again["id"] != order["id"] and again["status"] == "PENDING" and again["checkout_url"]
    assert [(i["product_code"], i["target"]) for i in again["items"]] == [("TSEL10", "081234567890")]
    replay = httpx.post(f"{stack.api}/api/v1/orders/{order['id']}/again", headers=headers)
    assert replay.status_code == 200 and replay.json()["id"] == again["id"]
    with Session(stack.db) as s:
        assert len(s.exec(select(Payment)).all()) == 2

    # someone else's order: not found, nothing written
    stack.sign_in("U-siti")
    r = httpx.post(f"{stack.api}/api/v1/orders/{order['id']}/again",
                   headers={**stack.auth, "Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    assert r.status_code == 404
    with Session(stack.db) as s:
        assert len(s.exec(select(Payment)).all()) == 2


def test_a_product_no_longer_on_sale_cannot_be_bought_again(stack):
    order = stack.order()
    with Session(stack.db) as s:
        s.exec(select(Product).where(Product.code == "TSEL10")).one().active = False
        s.commit()
    r = httpx.post(f"{stack.api}/api/v1/orders/{order['id']}/again",
                   headers={**stack.auth, "Idempotency-Key": str(uuid.uuid4()), "Accept-Language": "zh-Hant"})  # fmt: skip
    assert (
        r.status_code == 409 and r.json()["code"] == "nothing_to_buy_again" and "停售" in r.json()["detail"]
    )


def test_a_finished_orders_receipt_says_what_to_whom_the_token_amounts_method_and_time(stack):
    httpx.post(f"{stack.api}/api/v1/saved-numbers", json={"name": "Ibu", "number": "12345678901",
                                                           "kind": "pln_meter"}, headers=stack.auth)  # fmt: skip
    headers = {**stack.auth, "Idempotency-Key": str(uuid.uuid4())}
    order = httpx.post(f"{stack.api}/api/v1/orders", json={"items": [{"product_code": "PLN20",
                       "target": "12345678901"}]}, headers=headers).json()  # fmt: skip
    r = _get(stack, f"/api/v1/orders/{order['id']}/receipt", "id")
    assert r.status_code == 409 and "belum selesai" in r.json()["detail"]

    ref = stack.hand_off(order["reference"])
    assert stack.notice(ref, order["amount_twd"]).text == "1|OK"
    item_id = order["items"][0]["id"]
    token = "1234-5678-9012-3456-7890"
    with stack.uow() as uow:
        transition_item(uow.session, item_id, ItemStatus.PROCESSING, cause="test", actor="test")
        store_delivery(uow.session, item_id, None, Delivery(token=token, customer_name="BUDI SANTOSO",
                                                            tariff="R1/1300VA", kwh="14.5"))  # fmt: skip
        transition_item(uow.session, item_id, ItemStatus.SUCCESS, cause="test", actor="test")
        settle_payment(uow.session, order["id"])
        uow.commit()

    receipt = _get(stack, f"/api/v1/orders/{order['id']}/receipt", "en").json()
    assert receipt["status"] == "SUCCESS" and receipt["reference"] == ref
    assert receipt["payment_method"] == "Credit/debit card" and receipt["paid_at"] and receipt["finished_at"]
    assert (receipt["amount_twd"], receipt["refunded_twd"]) == (order["amount_twd"], 0)
    (item,) = receipt["items"]
    assert (item["product_name"], item["target"], item["to_name"]) == ("PLN 20.000", "12345678901", "Ibu")
    assert item["delivery"]["token"] == token and item["price_twd"] == order["items"][0]["price_twd"]
    zh = _get(stack, f"/api/v1/orders/{order['id']}/receipt", "zh-Hant").json()
    assert zh["payment_method"] == "信用卡/金融卡" and zh["status_text"] != receipt["status_text"]
    with Session(stack.db) as s:
        assert s.get(PaymentItem, item_id).status == "SUCCESS"

    # someone else's receipt: not found
    stack.sign_in("U-siti")
    assert _get(stack, f"/api/v1/orders/{order['id']}/receipt").status_code == 404
