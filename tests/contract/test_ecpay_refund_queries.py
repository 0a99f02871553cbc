"""What ECPay says about a card trade's refunds: QueryTradeInfo's authorisation (gwsr) and CreditDetail/QueryTrade/V2
(developers.ecpay.com.tw ?p=2894: JSON {"RtnMsg": "", "RtnValue": {TradeID, amount, clsamt, authtime, status,
close_data: [{status, sno, amount, datetime}]}}; RtnMsg error_nopay / error_Stop / error on failure), between
EcpayClient and the ECPay simulator over real HTTP, and the parser on ECPay's documented shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from esa_domain.adapters.ecpay import EcpayClient, EcpayInvalidResponse, EcpayUnavailable
from esa_domain.adapters.ecpay.client import parse_credit_detail
from sandbox.ecpay import create_ecpay_sandbox
from tests.contract.test_ecpay_sandbox import (
    IV,
    KEY,
    MERCHANT,
    Receiver,
    checkout_fields,
    open_checkout,
    sandbox_pay,
)

CHECK_CODE = "59997889"


@pytest.fixture
def sandbox_url(run_asgi: Callable[[Any], str]) -> str:
    return run_asgi(create_ecpay_sandbox(merchant_id=MERCHANT, hash_key=KEY, hash_iv=IV))


@pytest.fixture
def receiver(run_asgi: Callable[[Any], str]) -> Receiver:
    recv = Receiver()
    recv.url = run_asgi(recv.app()) + "/ecpay/return"
    return recv


@pytest.fixture
def client(sandbox_url: str) -> EcpayClient:
    return EcpayClient(sandbox_url, MERCHANT, KEY, IV, timeout=5.0)


def _paid(
    sandbox_url: str, receiver: Receiver, client: EcpayClient, trade: str, amount: int = 150
) -> tuple[str, str]:
    open_checkout(sandbox_url, checkout_fields(trade, receiver, amount=amount))
    sandbox_pay(sandbox_url, trade, mode="never")
    q = client.query_trade(trade)
    return q.trade_no, q.fields["gwsr"]


def test_a_card_trades_query_names_its_authorisation_and_credit_detail_lists_each_refund(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    trade_no, gwsr = _paid(sandbox_url, receiver, client, "ESACD1")
    assert gwsr.isdigit()
    before = client.query_credit_detail(gwsr, 150, CHECK_CODE)
    assert (before.status, before.amount_twd, before.refunded_twd, before.closed_twd) == (
        "已關帳",
        150,
        0,
        150,
    )
    assert client.do_action("ESACD1", trade_no, "R", 40).ok
    assert client.do_action("ESACD1", trade_no, "R", 25).ok
    after = client.query_credit_detail(gwsr, 150, CHECK_CODE)
    assert (after.refunded_twd, after.closed_twd) == (65, 85)
    assert [r["amount"] for r in after.fields["close_data"]] == ["150", "-40", "-25"]


def test_a_voided_trade_counts_as_refunded_in_full(sandbox_url: str, receiver: Receiver, client: EcpayClient):
    trade_no, gwsr = _paid(sandbox_url, receiver, client, "ESACD2", amount=90)
    assert client.do_action("ESACD2", trade_no, "N", 90).ok
    detail = client.query_credit_detail(gwsr, 90, CHECK_CODE)
    assert detail.voided and detail.refunded_twd == 90


def test_credit_detail_errors_are_refused_never_read_as_nothing_refunded(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    _, gwsr = _paid(sandbox_url, receiver, client, "ESACD3")
    with pytest.raises(EcpayInvalidResponse, match="error_nopay"):
        client.query_credit_detail("99999999", 150, CHECK_CODE)  # no such authorisation
    with pytest.raises(EcpayInvalidResponse, match="error_nopay"):
        client.query_credit_detail(gwsr, 149, CHECK_CODE)  # not its amount
    with pytest.raises(EcpayInvalidResponse, match="'error'"):
        client.query_credit_detail(gwsr, 150, "")  # CreditCheckCode is required
    forged = EcpayClient(sandbox_url, MERCHANT, "wrongkey12345678", IV)
    with pytest.raises(EcpayInvalidResponse, match="'error'"):
        forged.query_credit_detail(gwsr, 150, CHECK_CODE)


def test_a_lost_doaction_answer_still_leaves_the_refund_in_ecpays_record(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    trade_no, gwsr = _paid(sandbox_url, receiver, client, "ESACD4")
    httpx.post(f"{sandbox_url}/_sandbox/config", json={"do_action_answer": "drop"}).raise_for_status()
    with pytest.raises(EcpayUnavailable, match="502"):
        client.do_action("ESACD4", trade_no, "R", 30)
    assert client.query_credit_detail(gwsr, 150, CHECK_CODE).refunded_twd == 30
    ledger = httpx.get(f"{sandbox_url}/_sandbox/refunds").json()
    assert [(r["merchant_trade_no"], r["action"], r["amount"]) for r in ledger] == [("ESACD4", "R", 30)]


@pytest.mark.parametrize(
    ("body", "refunded", "status"),
    [
        # a captured trade with one refund row (退刷 is a negative close_data amount)
        (
            '{"RtnMsg":"","RtnValue":{"TradeID":"11304112","amount":"8685","clsamt":"8185",'
            '"authtime":"2024/01/05 10:11:12","status":"已關帳","close_data":['
            '{"status":"已關帳","sno":"1","amount":"8685","datetime":"2024/01/05 20:30:00"},'
            '{"status":"要關帳","sno":"2","amount":"-500","datetime":"2024/01/06 09:00:00"}]}}',
            500,
            "已關帳",
        ),
        # authorised only, nothing closed: nothing refunded
        (
            '{"RtnMsg":"","RtnValue":{"TradeID":"11304113","amount":"100","clsamt":"0",'
            '"authtime":"2024/01/05 10:11:12","status":"已授權","close_data":[]}}',
            0,
            "已授權",
        ),
        # a cancelled refund row (操作取消) does not count
        (
            '{"RtnMsg":"","RtnValue":{"TradeID":"1","amount":"100","clsamt":"100","authtime":"",'
            '"status":"已關帳","close_data":[{"status":"已關帳","sno":"1","amount":"100","datetime":""},'
            '{"status":"操作取消","sno":"2","amount":"-40","datetime":""}]}}',
            0,
            "已關帳",
        ),
    ],
)
def test_credit_detail_answers_as_ecpay_documents_them(body: str, refunded: int, status: str):
    detail = parse_credit_detail(body)
    assert (detail.refunded_twd, detail.status) == (refunded, status)


@pytest.mark.parametrize(
    "body",
    ['{"RtnMsg":"error_nopay","RtnValue":""}', '{"RtnMsg":"error_Stop","RtnValue":""}', "Forbidden", "[]",
     '{"RtnMsg":"","RtnValue":{"amount":"1O0","close_data":[]}}'],
)  # fmt: skip
def test_credit_detail_errors_and_garbage_are_refused(body: str):
    with pytest.raises(EcpayInvalidResponse):
        parse_credit_detail(body)
