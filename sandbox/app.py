"""Every simulator in one ASGI app for the demo: ECPay at the root, each supplier, LINE and FX under a prefix.

`demo_env()` gives the settings that point ESA at it. Production never imports this package.
"""

from __future__ import annotations

import secrets

from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox import billfazz, ecpay_invoice, iak, lapakgaming, line, pulsaif, redision
from sandbox.ecpay import create_ecpay_sandbox
from sandbox.fx import create_fx_sandbox

PULSAIF_CALLBACK_SECRET_DEFAULT = "demo-" + "0" * 27  # replaced per data folder by `esa up`

# the accounts the simulators accept (their defaults)
IAK = {"username": iak.DEFAULT_USERNAME, "api_key": iak.DEFAULT_API_KEY}
LAPAK = {"secret_key": lapakgaming.DEFAULT_SECRET_KEY}
BILLFAZZ = {"api_key": billfazz.DEFAULT_API_KEY, "api_secret": billfazz.DEFAULT_API_SECRET}
REDISION = {"client_id": "esa-sandbox", "client_secret": "redision-sandbox-secret", "partner_id": "ESA"}
PULSAIF = {"member_id": "ESA001", "pin": "1234", "password": "pulsaif-sandbox"}
LINE_TOKEN = "sandbox-line-channel-token"


def new_callback_secret() -> str:
    return secrets.token_urlsafe(24)


def create_sandbox_app(public_url: str, *, pulsaif_callback_secret: str) -> Starlette:
    """All simulators; supplier callbacks go to ESA at `public_url`."""
    base = public_url.rstrip("/")
    mounts = [
        Mount("/iak", iak.create_app(**IAK, callback_url=f"{base}/callbacks/iak")),
        Mount("/lapakgaming", lapakgaming.create_app(**LAPAK)),
        Mount("/billfazz", billfazz.create_app(**BILLFAZZ)),
        Mount("/redision", redision.create_app(**REDISION, callback_url=f"{base}/callbacks/redision")),
        Mount(
            "/pulsaif",
            pulsaif.create_app(**PULSAIF, report_url=f"{base}/callbacks/pulsaif/{pulsaif_callback_secret}"),
        ),
    ]
    mounts += [Mount("/line", line.create_app()), Mount("/fx", create_fx_sandbox())]
    mounts.append(Mount("/einvoice", ecpay_invoice.create_app()))  # ECPay's B2C e-invoice API (issue 19)
    mounts.append(Mount("/", create_ecpay_sandbox(merchant_id="3002607")))
    return Starlette(routes=mounts)


def demo_env(sandbox_url: str, *, pulsaif_callback_secret: str) -> dict[str, str]:
    """Settings (as environment variables) that point every adapter at the simulators."""
    s = sandbox_url.rstrip("/")
    return {
        "ECPAY_BASE_URL": s,
        "ECPAY_MERCHANT_ID": "3002607",
        "ECPAY_CREDIT_CHECK_CODE": "25012345",  # the sandbox takes any number (it cannot know a merchant's)
        "IAK_USERNAME": IAK["username"],
        "IAK_API_KEY": IAK["api_key"],
        "IAK_PREPAID_URL": f"{s}/iak",
        "IAK_POSTPAID_URL": f"{s}/iak",
        "LAPAKGAMING_SECRET_KEY": LAPAK["secret_key"],
        "LAPAKGAMING_BASE_URL": f"{s}/lapakgaming",
        "BILLFAZZ_API_KEY": BILLFAZZ["api_key"],
        "BILLFAZZ_API_SECRET": BILLFAZZ["api_secret"],
        "BILLFAZZ_BASE_URL": f"{s}/billfazz",
        "REDISION_BASE_URL": f"{s}/redision",
        "REDISION_CLIENT_ID": REDISION["client_id"],
        "REDISION_CLIENT_SECRET": REDISION["client_secret"],
        "REDISION_PARTNER_ID": REDISION["partner_id"],
        "PULSAIF_BASE_URL": f"{s}/pulsaif",
        "PULSAIF_MEMBER_ID": PULSAIF["member_id"],
        "PULSAIF_PIN": PULSAIF["pin"],
        "PULSAIF_PASSWORD": PULSAIF["password"],
        "PULSAIF_CALLBACK_SECRET": pulsaif_callback_secret,
        "ECPAY_INVOICE_BASE_URL": f"{s}/einvoice",
        "ECPAY_INVOICE_MERCHANT_ID": ecpay_invoice.MERCHANT_ID,
        "ECPAY_INVOICE_HASH_KEY": ecpay_invoice.HASH_KEY,
        "ECPAY_INVOICE_HASH_IV": ecpay_invoice.HASH_IV,
        "LINE_API_BASE_URL": f"{s}/line",
        "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
        "LINE_ALERT_TO": "Cdemo-operators",
        "FX_SOURCE_URL": f"{s}/fx/rates/IDR-TWD",
        "LINE_LOGIN_CHANNEL_ID": "2000000001",
        "LINE_LOGIN_BASE_URL": f"{s}/line",
        "LINE_LOGIN_PAGE_URL": f"{s}/line/_sandbox/login",
    }
