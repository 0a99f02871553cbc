"""EcpayInvoiceClient against the e-invoice simulator over real HTTP on 127.0.0.1: every operation ESA uses,
the documented refusals (a RelateNumber used twice, an unknown carrier or love code, an allowance over what
remains, an invalidation out of its period or over an allowance), and the carrier check of the contract.

The simulator's AES is its own (PHP urlencode style), so agreement is a cross-check of the codec."""

from __future__ import annotations

import httpx
import pytest

from esa_domain.adapters.ecpay_invoice.client import (
    RTN_DUPLICATE_RELATE_NUMBER,
    EcpayInvoiceClient,
    InvoiceUnavailable,
    IssueRequest,
    Line,
)
from esa_domain.invoicing.carrier import Carrier, CarrierCheck, check_carrier
from sandbox import ecpay_invoice as sim_mod


@pytest.fixture
def sim(run_asgi):
    simulator = sim_mod.InvoiceSimulator()
    base = run_asgi(sim_mod.create_app(simulator))
    client = EcpayInvoiceClient(base, sim_mod.MERCHANT_ID, sim_mod.HASH_KEY, sim_mod.HASH_IV, timeout=5)
    yield simulator, client, base
    client.close()


def _issue(relate: str, amount: int = 100, **kw) -> IssueRequest:
    kw.setdefault("carrier_type", "1")
    return IssueRequest(relate, amount, (Line("Telkomsel 10.000", amount),), customer_email="a@b.tw", **kw)


def test_issue_then_query_by_relate_number(sim):
    simulator, client, _ = sim
    issued = client.issue(_issue("ESA1A2B3C", 125))
    assert issued.ok, issued.answer.text
    assert (
        len(issued.invoice_no) == 10 and issued.invoice_no[:2].isalpha() and issued.invoice_no[2:].isdigit()
    )
    assert len(issued.random_number) == 4 and issued.random_number.isdigit()
    found = client.get_issue(relate_number="ESA1A2B3C")
    assert found.invoice is not None
    assert (found.invoice.invoice_no, found.invoice.sales_amount, found.invoice.random_number) == (
        issued.invoice_no,
        125,
        issued.random_number,
    )
    assert client.get_issue(relate_number="NEVERSENT").invoice is None
    assert len(simulator.invoices) == 1


def test_a_relate_number_issues_once_whatever_its_case(sim):
    simulator, client, _ = sim
    assert client.issue(_issue("ESAdup01")).ok
    again = client.issue(_issue("ESADUP01"))
    assert not again.ok and again.duplicate
    assert again.answer.rtn_code == RTN_DUPLICATE_RELATE_NUMBER
    assert len(simulator.invoices) == 1


def test_an_unknown_mobile_barcode_or_love_code_is_refused(sim):
    simulator, client, _ = sim
    bad_mobile = client.issue(_issue("ESAM1", carrier_type="3", carrier_num="/ZZZ9999"))
    assert not bad_mobile.ok and bad_mobile.answer.rtn_code == sim_mod.RTN_BAD_CARRIER
    bad_love = client.issue(_issue("ESAL1", carrier_type="", love_code="1234567"))
    assert not bad_love.ok and bad_love.answer.rtn_code == sim_mod.RTN_BAD_LOVE_CODE
    good = client.issue(_issue("ESAM2", carrier_type="3", carrier_num="/ABC+123"))
    assert good.ok
    donated = client.issue(_issue("ESAL2", carrier_type="", love_code="168001"))
    assert donated.ok
    assert len(simulator.invoices) == 2


def test_allowances_up_to_what_remains_then_refused(sim):
    _, client, _ = sim
    issued = client.issue(_issue("ESAAL1", 100))
    first = client.allowance(
        invoice_no=issued.invoice_no, invoice_date=issued.invoice_date, amount=60, lines=(Line("Refund", 60),)
    )
    assert first.ok and first.remain == 40 and len(first.allowance_no) == 16
    over = client.allowance(
        invoice_no=issued.invoice_no, invoice_date=issued.invoice_date, amount=41, lines=(Line("Refund", 41),)
    )
    assert not over.ok and over.answer.rtn_code == sim_mod.RTN_ALLOWANCE_OVER
    rest = client.allowance(
        invoice_no=issued.invoice_no, invoice_date=issued.invoice_date, amount=40, lines=(Line("Refund", 40),)
    )
    assert rest.ok and rest.remain == 0
    # an invoice with standing allowances is not invalidated (those first)
    refused = client.invalid(invoice_no=issued.invoice_no, invoice_date=issued.invoice_date, reason="refund")
    assert refused.rtn_code == sim_mod.RTN_HAS_ALLOWANCE
    assert client.allowance_invalid(
        invoice_no=issued.invoice_no, allowance_no=first.allowance_no, reason="x"
    ).ok
    assert client.get_issue(relate_number="ESAAL1").invoice.remain_allowance == 60


def test_invalidation_only_inside_its_period(sim):
    _, client, base = sim
    issued = client.issue(_issue("ESAIN1", 50))
    late = client.issue(_issue("ESAIN2", 50))
    assert client.invalid(invoice_no=issued.invoice_no, invoice_date=issued.invoice_date, reason="refund").ok
    assert client.get_issue(relate_number="ESAIN1").invoice.invalid
    httpx.post(f"{base}/_sandbox/clock", json={"advance_days": 75})  # past the 13th after the period
    refused = client.invalid(invoice_no=late.invoice_no, invoice_date=late.invoice_date, reason="refund")
    assert refused.rtn_code == sim_mod.RTN_INVALID_PERIOD
    assert not client.get_issue(relate_number="ESAIN2").invoice.invalid


def test_a_lost_answer_is_unavailable_and_the_query_tells_what_happened(sim):
    simulator, client, base = sim
    httpx.post(f"{base}/_sandbox/failures", json={"operation": "Issue", "when": "after"})
    with pytest.raises(InvoiceUnavailable) as caught:
        client.issue(_issue("ESALOST1"))
    assert caught.value.exchange is not None and caught.value.exchange.http_status == 500
    assert client.get_issue(relate_number="ESALOST1").invoice is not None  # it was issued
    assert len(simulator.invoices) == 1


def test_a_request_under_other_keys_is_not_processed(sim):
    simulator, _, base = sim
    with EcpayInvoiceClient(base, sim_mod.MERCHANT_ID, "0123456789abcdef", "fedcba9876543210") as forged:
        answer = forged.call("/B2CInvoice/Issue", _issue("ESAFORGE").data(sim_mod.MERCHANT_ID))
    assert answer.trans_code != 1 and not answer.ok
    assert simulator.invoices == {}


@pytest.mark.parametrize(
    ("carrier", "expected"),
    [
        (Carrier("none"), CarrierCheck.OK),
        (Carrier("mobile", "/ABC+123"), CarrierCheck.OK),
        (Carrier("mobile", "/ZZZ9999"), CarrierCheck.NOT_FOUND),
        (Carrier("donation", "168001"), CarrierCheck.OK),
        (Carrier("donation", "7654321"), CarrierCheck.NOT_FOUND),
    ],
)
def test_check_carrier_asks_ecpay(sim, carrier, expected):
    _, client, _ = sim
    assert check_carrier(carrier, client) is expected


def test_check_carrier_says_unavailable_when_ecpay_does_not_answer(sim):
    _, client, base = sim
    httpx.post(f"{base}/_sandbox/failures", json={"operation": "CheckBarcode", "when": "before"})
    assert check_carrier(Carrier("mobile", "/ABC+123"), client) is CarrierCheck.UNAVAILABLE
    with EcpayInvoiceClient(
        "http://127.0.0.1:9", "2000132", sim_mod.HASH_KEY, sim_mod.HASH_IV, timeout=1
    ) as down:
        assert check_carrier(Carrier("donation", "168001"), down) is CarrierCheck.UNAVAILABLE


def test_a_request_out_of_its_ten_minutes_is_not_processed(sim):
    simulator, client, base = sim
    stale = client.envelope(_issue("ESASTALE").data(sim_mod.MERCHANT_ID))
    stale["RqHeader"]["Timestamp"] -= 11 * 60
    answer = httpx.post(f"{base}/B2CInvoice/Issue", json=stale).json()
    assert answer["TransCode"] != 1 and simulator.invoices == {}
    assert client.issue(_issue("ESASTALE")).ok  # the same, sent now
