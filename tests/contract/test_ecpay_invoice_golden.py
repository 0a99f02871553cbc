"""Golden tests for ECPay's B2C e-invoice wire format, with ECPay's own encrypted examples as test data.

Sources (quoted verbatim below):
- ECPay's developer site, page 電子發票示範 (developers.ecpay.com.tw/19021; stored copy found with the `search`
  tool, corpus pages): an Issue request of the stage merchant 2000132 with its Data encrypted (Timestamp
  1747891440). The stored copy of the page is cut short, so the Data is the first 1,040 base64 characters of
  the real one: every whole AES block in it is checked (CBC decrypts a block from the one before it).
- erictseng618/ecpay-skill, test-vectors/aes-encryption.json (from its guides/14-aes-encryption.md): the AES
  vectors for the e-invoice stage keys, among them a CheckBarcode Data ({"MerchantID":"2000132",
  "BarCode":"/1234567"}) and its decryption.
The stage keys are ECPay's published ones (ECPay/SDK_PHP example/Invoice/B2C/*.php).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote_plus

import httpx
from Crypto.Cipher import AES

from esa_domain.adapters.ecpay.codec import aes_decrypt, aes_encrypt
from esa_domain.adapters.ecpay_invoice.client import (
    STAGE_HASH_IV,
    STAGE_HASH_KEY,
    STAGE_MERCHANT_ID,
    EcpayInvoiceClient,
    IssueRequest,
    Line,
)

KEY, IV = STAGE_HASH_KEY, STAGE_HASH_IV
assert (STAGE_MERCHANT_ID, KEY, IV) == ("2000132", "ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk")

# developers.ecpay.com.tw/19021 電子發票示範, "二、發送 Request(Data 加密後)" (as stored, cut short)
DOC_ISSUE_TIMESTAMP = 1747891440
DOC_ISSUE_DATA = (
    "XeEOdHpTRvxKEqs/JD9RSd16s7VtpyWVCN6AV44pKTV7XoPByaStato0iqOI39rIrp3of8JQh2ctO23quUAG9Q06NewBnZlHoZsPIrZsw0P4aU"
    "+eOEgKD03CkkJS2t5khD6hNav2oMvdFonTGoryFiyLIjxBCpGJ/1FWeLAjfaaGc9ia6M5iL5E+8nH5YIxuNKPmQX3m4CkPYqIVuztDW55TO3rAw"
    "e9qCo8ICUAO3ThSSiSSDo2y6nYhMX9EjGBu2XV7ZuD60SofsMCFfTrxXBYIOgpnin5uQNgchAP/O41HRt/teXd7IIts9f3p3YRVwqHBcm+qzPH9"
    "jkOQWreiEq9Tx1xsFoZF21J+1dNHzQzet4Qb/SICZ9pviBaA1zM48KcH2iecwwnbFdv9y4anorvfjTlF5A3Z2mt82mV1NDsOY8n+GnU2GB/nGg3"
    "5vw2VgjrQdQmUkarH/NHcgHkc2HZ2tM5XphlqdtHQAdPhnyoxq4ecccvpKOOZtlNK4qpeZNl4/4ZpRZ2HoJ1T0kkLLHFoPUkVE/Yls7higVMVgU"
    "ZiZIpj1Z04pN2FneD2CX+uNOGL1dz6IYONuQl3kjyv+URwmBSEoPF9yE39G65vxSPcM/6uzGtx2Fg+hOOgD+G0Ps0qmzPohTsJ66c6B4telinAoD"
    "ihGzgI+Wd7d7vpVLAqJp6ort515D3VqPDnLxLnO3Z60cNxaJfWI/PN7mjFz9ovE/1z0SVj3dvIe0ig9r74I+mBXgo8/WymGQhBwag34FKOmCmIFp"
    "SmCu0fzXdCAya3/m5+CRsv2VFCkD2npugXchUUZXJFw48XXA3bqa5ra+iOWfMQADmwvMlab8a0XbDHp2ehVgcVUZ7q6Iil/PeVtcgXRbKBBa1OAVV"
    "xkEYbZe0lBoOIo7YguwWNVPS9bQhJEYgHyBnNrqxVg/jGSio9fcm+Xw0krubUjp3ISLlE+39MQsnfa2VtpKrLAj4ORJyXG2O4oKODnalQnV71kI1"
    "g67JGMy22elqoQa5eCP6FKHdHFpZVZfzsjySoLFjIruLCsvoCD2t4REGsXySG9C497K0xcPMyzZIZ2kDxpqM7V5TY/XYJaUbJSOYJzhui9grCgsWJ"
    "wtOhcbIbi/oSy4n14e9mX0hTcA2hegJNY2NcjS3RyckS8rMexf674Pw07zx59MgBZSLTOCoXA9QtdOhqROEWMVxyn2FjFKYhQdG3Zork55jsjuMFW"
    "aaNKdRyiOqjX9LKOfr9wgVuc3BUrYhN6CL9fEkAztFDJ5SFGh3lXconP7aj2/+nhIXv039tGzJe+EMf578gmediXCaAr49KGDpWmLDMyZv6Hco8P0"
    "HFJ0V61UX511AkJVq4hMqXn8nO70udMqEPOMj1mmhl0OBxSS4jZX1lHKsZORPPqB/R08VAeI/qhHu9A+pNtNA80xTUs8we3oDsem4gM"
)
# what those blocks say (the page's "一、發送 Request(Data 加密前)"), as far as the stored copy goes
DOC_ISSUE_PLAIN_PREFIX = (
    '{"MerchantID":"2000132","RelateNumber":"ecpayinvtest000","CustomerID":"","CustomerIdentifier":"97025978",'
    '"CustomerName":"綠界科技股份有限公司","CustomerAddr":"台北市南港區成功路一段58號3樓","CustomerPhone":"",'
    '"CustomerEmail":"test@ecpay.com.tw","ClearanceMark":"1","Print":"1","Donation":"0","LoveCode":"",'
    '"CarrierType":"","CarrierNum":"","TaxType":"1","SalesAmount":70,"InvoiceRemark":"test","InvType":"07",'
    '"vat":"1","Items":[{"ItemSeq":1,"ItemName":"商品1","ItemCount":1,"ItemWord":"個","ItemPrice":50,'
    '"ItemTaxType":"1","ItemAmount":50,"ItemRemark":"item01_desc"},{'
)

# erictseng618/ecpay-skill test-vectors/aes-encryption.json, vectors 1 and 6
BARCODE_PLAIN = '{"MerchantID":"2000132","BarCode":"/1234567"}'
BARCODE_URLENCODED = "%7B%22MerchantID%22%3A%222000132%22%2C%22BarCode%22%3A%22%2F1234567%22%7D"
BARCODE_DATA = "XeEOdHpTRvxKEqs/JD9RSd16s7VtpyWVCN6AV44pKTW3DVa6yI7vKmjBRp2eulDhXoru/qBqFDBH3fEqlkMn3bbJfJBfGAq+v+SvttutYnc="


def _whole_blocks(data: str) -> bytes:
    raw = base64.b64decode(data[: len(data) // 4 * 4])
    return raw[: len(raw) // 16 * 16]


def test_ecpays_encrypted_issue_example_decrypts_to_its_documented_request():
    plain = AES.new(KEY.encode(), AES.MODE_CBC, iv=IV.encode()).decrypt(_whole_blocks(DOC_ISSUE_DATA))
    text = unquote_plus(plain.decode("ascii"))  # ends inside the next "%7B" of the second item
    assert text.rstrip("%") == DOC_ISSUE_PLAIN_PREFIX


def test_our_issue_request_encrypts_to_ecpays_example_block_for_block():
    # Given ECPay's example invoice as our IssueRequest (a company buyer, printed: given as extra fields)
    request = IssueRequest(
        relate_number="ecpayinvtest000",
        amount=70,
        lines=(Line("商品1", 50, word="個", remark="item01_desc"), Line("商品2", 20, word="個")),
        customer_email="test@ecpay.com.tw",
        remark="test",
        extra={
            "CustomerIdentifier": "97025978",
            "CustomerName": "綠界科技股份有限公司",
            "CustomerAddr": "台北市南港區成功路一段58號3樓",
            "ClearanceMark": "1",
            "Print": "1",
        },
    )
    client = EcpayInvoiceClient("http://unused", STAGE_MERCHANT_ID, KEY, IV)
    ours = _whole_blocks(aes_encrypt(request.data(STAGE_MERCHANT_ID), KEY, IV))
    theirs = _whole_blocks(DOC_ISSUE_DATA)
    # Then every AES block the example shows is ours, byte for byte (field order, JSON and URL encoding)
    assert len(theirs) >= 48 * 10
    assert ours[: len(theirs)] == theirs
    client.close()


def test_the_envelope_is_ecpays():
    client = EcpayInvoiceClient("http://unused", STAGE_MERCHANT_ID, KEY, IV)
    body = client.envelope({"MerchantID": "2000132", "BarCode": "/1234567"})
    assert body["MerchantID"] == "2000132"
    assert body["RqHeader"]["Revision"] == "3.0.0" and isinstance(body["RqHeader"]["Timestamp"], int)
    assert body["Data"] == BARCODE_DATA  # a CheckBarcode request's Data, as the vector
    client.close()


def test_the_checkbarcode_vector_both_ways():
    assert aes_encrypt(json.loads(BARCODE_PLAIN), KEY, IV) == BARCODE_DATA
    assert aes_decrypt(BARCODE_DATA, KEY, IV) == {"MerchantID": "2000132", "BarCode": "/1234567"}
    raw = AES.new(KEY.encode(), AES.MODE_CBC, iv=IV.encode()).decrypt(base64.b64decode(BARCODE_DATA))
    assert raw.rstrip(raw[-1:]).decode() == BARCODE_URLENCODED


def test_a_checkbarcode_sent_carries_the_vectors_data_and_reads_ecpays_answer():
    # Given ECPay answering the documented envelope: TransCode 1 and Data (RtnCode, IsExist) encrypted the same way
    seen = {}

    def ecpay(request: httpx.Request) -> httpx.Response:
        seen.update(json.loads(request.content))
        answer = {"RtnCode": 1, "RtnMsg": "執行成功", "IsExist": "Y"}
        return httpx.Response(
            200,
            json={
                "MerchantID": "2000132",
                "RpHeader": {"Timestamp": DOC_ISSUE_TIMESTAMP},
                "TransCode": 1,
                "TransMsg": "",
                "Data": aes_encrypt(answer, KEY, IV),
            },
        )

    with EcpayInvoiceClient("https://einvoice-stage.ecpay.com.tw", "2000132", KEY, IV,
                            transport=httpx.MockTransport(ecpay)) as client:  # fmt: skip
        result = client.check_barcode("/1234567")
    assert seen["Data"] == BARCODE_DATA
    assert result.exists and result.answer.ok
    # the exchange kept for the record holds the Data in clear, never the keys
    record = json.dumps(result.answer.exchange.record(), ensure_ascii=False)
    assert KEY not in record and IV not in record and "/1234567" in record
