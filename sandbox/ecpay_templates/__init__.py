"""HTML pages the ECPay simulator shows to the payer's browser. Every value is HTML-escaped."""

from __future__ import annotations

from html import escape

_STYLE = """
body { font-family: system-ui, -apple-system, "Noto Sans TC", sans-serif; background: #f4f6f8; margin: 0; }
main { max-width: 420px; margin: 3em auto; background: #fff; border-radius: 12px; padding: 1.5em 2em;
       box-shadow: 0 2px 12px rgba(0,0,0,.08); }
h1 { font-size: 1.1em; color: #2e7d32; margin: 0 0 .2em; }
.sandbox { font-size: .75em; color: #b26a00; letter-spacing: .05em; text-transform: uppercase; }
.amount { font-size: 2em; font-weight: 600; margin: .4em 0; }
ul { padding-left: 1.2em; color: #333; }
.meta { color: #777; font-size: .85em; }
.actions { display: flex; flex-wrap: wrap; gap: .5em; margin-top: 1.5em; }
.actions button { min-width: 30%; }
button { flex: 1; padding: .8em; border: 0; border-radius: 8px; font-size: 1em; cursor: pointer; }
.pay { background: #2e7d32; color: #fff; }
.fail { background: #c62828; color: #fff; }
.abandon { background: #ddd; }
.offline { background: #fff; border: 1px solid #999; }
.error { color: #c62828; }
"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="zh-Hant">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body><main><div class="sandbox">ECPay sandbox</div>{body}</main></body>
</html>
"""


def checkout_page(
    *, merchant_trade_no: str, amount: int, item_names: list[str], methods: str, action: str
) -> str:
    """The payer's choice: pay, fail or abandon. `action` is where the choice is POSTed."""
    items = "".join(f"<li>{escape(name)}</li>" for name in item_names)
    return _page(
        "ECPay sandbox checkout",
        f"""<h1>綠界科技 ECPay</h1>
<div class="amount">NT$ {amount:,}</div>
<ul>{items}</ul>
<p class="meta">Trade {escape(merchant_trade_no)} &middot; methods: {escape(methods)}</p>
<form method="post" action="{escape(action)}" class="actions">
  <button class="pay" name="choice" value="pay">Pay</button>
  <button class="fail" name="choice" value="fail">Fail</button>
  <button class="abandon" name="choice" value="abandon">Abandon</button>
  <button class="offline" name="choice" value="atm">ATM</button>
  <button class="offline" name="choice" value="cvs">CVS code</button>
  <button class="offline" name="choice" value="barcode">Barcode</button>
</form>""",
    )


def error_page(code: str, message: str) -> str:
    """ECPay-like error page (ECPay shows a code and a message, HTTP 200)."""
    return _page("ECPay error", f'<h1 class="error">{escape(code)}</h1><p>{escape(message)}</p>')


def result_page(title: str, message: str, back_url: str | None) -> str:
    """The end of the flow when the merchant gave no OrderResultURL / ClientBackURL to go to."""
    link = f'<p><a href="{escape(back_url)}">Back to the shop</a></p>' if back_url else ""
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>{link}")


def autosubmit_page(action_url: str, fields: dict[str, str]) -> str:
    """POSTs `fields` to `action_url` from the browser (OrderResultURL), with a button for no-JS browsers."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    return _page(
        "Returning to the shop",
        f"""<form id="result" method="post" action="{escape(action_url)}">{inputs}
<p>Returning to the shop&hellip;</p>
<div class="actions"><button class="pay" type="submit">Continue</button></div>
</form><script>document.getElementById("result").submit();</script>""",
    )
