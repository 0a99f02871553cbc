"""ECPay's wire codecs: CheckMacValue, the raw `k=v&...` response body, and the AES envelope payload.

Everything here is pure and byte-exact with ECPay (see shared/specs/ecpay.md, "CheckMacValue" and
"JSON APIs with AES-128-CBC"). No I/O, no logging: callers decide what to record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad

MAC_FIELD = "CheckMacValue"
_HASHES = {"sha256": hashlib.sha256, "md5": hashlib.md5}


def _dotnet_url_encode(text: str) -> str:
    """Encode like .NET `HttpUtility.UrlEncode`, which ECPay's servers use to compute the MAC."""
    # quote_plus already keeps A-Z a-z 0-9 - _ . and turns space into '+'; .NET also keeps ! * ( ) but not ~
    return quote_plus(text, safe="-_.!*()", encoding="utf-8").replace("~", "%7E")


def mac_source(params: Mapping[str, str], hash_key: str, hash_iv: str) -> str:
    """The encoded, lowercased string that is hashed (useful to debug a MAC mismatch; never log it in prod).

    `params` are the fields as posted or received; `CheckMacValue`, if present, is left out.
    """
    items = sorted(((k, v) for k, v in params.items() if k != MAC_FIELD), key=lambda kv: kv[0].lower())
    body = "&".join(f"{k}={v}" for k, v in items)
    framed = f"HashKey={hash_key}&{body}&HashIV={hash_iv}" if body else f"HashKey={hash_key}&HashIV={hash_iv}"
    return _dotnet_url_encode(framed).lower()


def check_mac_value(params: Mapping[str, str], hash_key: str, hash_iv: str, method: str = "sha256") -> str:
    """The CheckMacValue ECPay expects for `params`.

    `params`: every field that is (or will be) posted, values exactly as sent; `CheckMacValue` is ignored.
    `hash_key` / `hash_iv`: the merchant's HashKey and HashIV.
    `method`: "sha256" (EncryptType=1, every current API) or "md5" (legacy EncryptType=0 APIs).
    """
    try:
        digest = _HASHES[method.lower()]
    except KeyError:
        raise ValueError(f"unknown CheckMacValue method {method!r}: use 'sha256' or 'md5'") from None
    return digest(mac_source(params, hash_key, hash_iv).encode("utf-8")).hexdigest().upper()


def verify_check_mac_value(params: Mapping[str, str], hash_key: str, hash_iv: str) -> bool:
    """True when `params` carry a CheckMacValue that matches the rest of `params`.

    `params`: every field received, including `CheckMacValue`; a missing one is never valid.
    Only SHA-256 verifies: fields saying any `EncryptType` but 1 are refused, never checked with MD5 (a sender
    must not choose the weaker hash; we sign every request with EncryptType=1).
    """
    received = params.get(MAC_FIELD)
    if not received:
        return False
    if params.get("EncryptType", "1") != "1":
        return False
    expected = check_mac_value(params, hash_key, hash_iv, "sha256")
    # constant-time: a timing oracle on the MAC would let a forger guess it byte by byte
    return hmac.compare_digest(expected.encode("ascii"), received.strip().upper().encode("utf-8"))


def parse_query_response(body: str) -> dict[str, str]:
    """Fields of a raw `k=v&k=v` ECPay response body, values exactly as sent.

    `body`: the response text. Values are raw (spaces, CJK, '+', '#' as they are), so this never form-decodes:
    `parse_qsl` would turn '+' into a space and break the CheckMacValue.
    """
    fields: dict[str, str] = {}
    for pair in body.strip("\r\n").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        fields[key] = value
    return fields


def _php_url_encode(text: str) -> str:
    """PHP `urlencode` (uppercase hex, space as '+', '~' encoded): what ECPay's AES APIs expect."""
    return quote_plus(text, safe="", encoding="utf-8").replace("~", "%7E")


def aes_encrypt(data: Mapping[str, Any] | str, hash_key: str, hash_iv: str) -> str:
    """The base64 `Data` field of an ECPay JSON API request.

    `data`: the business payload (a mapping, serialised as compact JSON) or an already serialised JSON text.
    `hash_key` / `hash_iv`: the merchant's HashKey and HashIV (16 ASCII characters each: AES-128 key and IV).
    """
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    plain = _php_url_encode(text).encode("ascii")
    cipher = AES.new(hash_key.encode("utf-8"), AES.MODE_CBC, iv=hash_iv.encode("utf-8"))
    return base64.b64encode(cipher.encrypt(pad(plain, AES.block_size))).decode("ascii")


def aes_decrypt(data: str, hash_key: str, hash_iv: str) -> dict[str, Any]:
    """The payload of an ECPay JSON API `Data` field: base64, AES-128-CBC, unpad, URL-decode, JSON.

    Raises ValueError when `data` is not valid base64/padding/JSON for these keys.
    """
    cipher = AES.new(hash_key.encode("utf-8"), AES.MODE_CBC, iv=hash_iv.encode("utf-8"))
    try:
        raw = base64.b64decode(data, validate=True)
        plain = unpad(cipher.decrypt(raw), AES.block_size).decode("utf-8")
        decoded = json.loads(unquote_plus(plain))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("ECPay Data could not be decrypted with these keys") from exc
    if not isinstance(decoded, dict):
        raise ValueError("ECPay Data decrypted to JSON that is not an object")
    return decoded
