"""Demo data, written once: catalog, five suppliers with their offers, a fresh FX rate, promos, operators,
customers, and a week of orders in every state, each built through the real domain functions."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from esa_domain.adapters.suppliers.base import Delivery
from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.fulfillment.delivery import store_delivery
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import (
    Customer,
    FxRate,
    GatewayEvent,
    ItemAttempt,
    Payment,
    PaymentItem,
    Product,
    ProductCategory,
    Promo,
    Supplier,
    SupplierExchange,
    SupplierOffer,
)
from esa_domain.operations.operators import create_operator
from esa_domain.ordering.orders import OrderLine, OrderPolicy, OrderRequest, place_order
from esa_domain.ordering.verify import PREFIXES, operator_of_product
from esa_domain.payments.settlement import finish_payment_if_done

DEMO_OPERATOR = ("demo", "esa-demo-2026", "admin")
DEMO_VIEWER = ("viewer", "esa-viewer-2026", "viewer")
DEMO_RATE = Decimal("0.001985")  # TWD per 1 IDR

CATEGORIES = [  # code, name, kind, is_game
    ("pulsa", "Pulsa", "prepaid", False),
    ("data", "Data packages", "prepaid", False),
    ("pln", "PLN tokens", "prepaid", False),
    ("games", "Game top-ups", "prepaid", True),
    ("vouchers", "Vouchers", "prepaid", True),
    # bills: inquired first, priced from the bill (esa_domain.ordering.bills)
    ("pln_postpaid", "PLN postpaid", "postpaid", False),
    ("bpjs", "BPJS Kesehatan", "postpaid", False),
    ("pdam", "PDAM water", "postpaid", False),
    ("telco_postpaid", "Telco postpaid", "postpaid", False),
]
# code, category, name, TWD price, nominal IDR, target kind, {supplier: (sku, cost IDR)}
PRODUCTS = [
    (
        "TSEL10",
        "pulsa",
        "Telkomsel pulsa 10.000",
        25,
        10000,
        "phone",
        {
            "iak": ("htelkomsel10000", 10450),
            "billfazz": ("TSEL10", 10550),
            "redision": ("TSEL10", 10650),
            "pulsaif": ("S10", 10150),
        },
    ),
    (
        "TSEL25",
        "pulsa",
        "Telkomsel pulsa 25.000",
        59,
        25000,
        "phone",
        {"iak": ("htelkomsel25000", 25150), "billfazz": ("TSEL25", 25300)},
    ),
    (
        "TSEL50",
        "pulsa",
        "Telkomsel pulsa 50.000",
        115,
        50000,
        "phone",
        {"iak": ("htelkomsel50000", 49800), "billfazz": ("TSEL50", 50100), "pulsaif": ("S50", 49650)},
    ),
    (
        "ISAT10",
        "pulsa",
        "Indosat pulsa 10.000",
        25,
        10000,
        "phone",
        {"iak": ("hindosat10000", 10600), "billfazz": ("ISAT10", 10750), "pulsaif": ("I10", 10400)},
    ),
    (
        "XL10",
        "pulsa",
        "XL pulsa 10.000",
        25,
        10000,
        "phone",
        {"iak": ("hxl10000", 10700), "billfazz": ("XL10", 10800), "pulsaif": ("X10", 10250)},
    ),
    (
        "XL25",
        "pulsa",
        "XL pulsa 25.000",
        59,
        25000,
        "phone",
        {"redision": ("XL25", 25400), "pulsaif": ("X25", 24950)},
    ),
    (
        "TSELDATA5",
        "data",
        "Telkomsel data 5 GB",
        119,
        None,
        "phone",
        {"redision": ("TSEL-DATA-5GB", 51500), "pulsaif": ("SD5", 54000)},
    ),
    ("ISATDATA7", "data", "Indosat data 7 GB", 109, None, "phone", {"redision": ("ISAT-DATA-7GB", 49000)}),
    ("XLDATA10", "data", "XL data 10 GB", 149, None, "phone", {"redision": ("XL-DATA-10GB", 76000)}),
    (
        "PLN20",
        "pln",
        "PLN token 20.000",
        49,
        20000,
        "pln_meter",
        {
            "iak": ("hpln20000", 20350),
            "billfazz": ("PLN20", 20450),
            "redision": ("PLN20", 20250),
            "pulsaif": ("PLN20", 20700),
        },
    ),
    (
        "PLN50",
        "pln",
        "PLN token 50.000",
        115,
        50000,
        "pln_meter",
        {"iak": ("hpln50000", 50300), "billfazz": ("PLN50", 50450), "redision": ("PLN50", 50250)},
    ),
    ("PLN100", "pln", "PLN token 100.000", 225, 100000, "pln_meter", {"redision": ("PLN100", 100250)}),
    (
        "ML86",
        "games",
        "Mobile Legends 86 diamonds",
        55,
        None,
        "game_id_zone",
        {"iak": ("mobilelegend86", 22500), "billfazz": ("ML86", 21800), "lapakgaming": ("ML78_8-S2", 20900)},
    ),
    (
        "FF140",
        "games",
        "Free Fire 140 diamonds",
        49,
        None,
        "game_id",
        {"iak": ("freefire140", 19900), "billfazz": ("FF140", 19400), "lapakgaming": ("FF140-S1", 18900)},
    ),
    (
        "GI60",
        "games",
        "Genshin Impact 60 Genesis Crystals",
        35,
        None,
        "game_id_zone",
        {"lapakgaming": ("GI60-S3", 13900)},
    ),
    (
        "GS330",
        "vouchers",
        "Garena Shells 330 voucher",
        175,
        None,
        "email",
        {"lapakgaming": ("VCGS330-S22", 84000)},
    ),
    (  # a game voucher sold with a PIN (IAK's own example product), also served by Lapak Gaming (voucher code)
        "STEAM12",
        "vouchers",
        "Steam Wallet IDR 12.000 voucher",
        40,
        12000,
        "phone",
        {"iak": ("hsteam12000", 16500), "lapakgaming": ("STEAM12-S9", 17200)},
    ),
]
# Bills, at IAK (the simulator's `pricelist-pasca`: the cost is the admin fee less IAK's commission). A bill's price
# is its quote's; the catalogue's positive price_twd is never charged for one (orders refuse a bill without its
# inquiry). Try them with IAK's documented sandbox numbers: BPJS 8801234560001 (docs/postpaid/core/product/
# bpjs-kesehatan/inquiry.md), PDAM Surabaya 10202001 (pdam/inquiry.md), PLN 530000000001, Halo 08991234501.
PRODUCTS += [
    ("PLNPOST", "pln_postpaid", "PLN Pascabayar", 1, None, "customer_no", {"iak": ("PLNPOSTPAID", 1900)}),
    ("BPJSKES", "bpjs", "BPJS Kesehatan", 1, None, "customer_no", {"iak": ("BPJS", 2400)}),
    ("PDAMSBY", "pdam", "PDAM Kota Surabaya", 1, None, "customer_no", {"iak": ("PDAMKOTA.SURABAYA", 1300)}),
    ("PDAMBDG", "pdam", "PDAM Kota Bandung", 1, None, "customer_no", {"iak": ("PDAMKOTA.BANDUNG", 1300)}),
    ("HALO", "telco_postpaid", "Telkomsel Halo", 1, None, "customer_no", {"iak": ("HPTSEL", 2000)}),
]
SUPPLIERS = [  # code, name, fee TWD, fee IDR
    ("iak", "IAK", 0, 0),
    ("billfazz", "BillFazz", 0, 100),
    ("redision", "Redision", 0, 0),
    ("lapakgaming", "Lapak Gaming", 1, 0),
    ("pulsaif", "Pulsa IF", 0, 150),
]
TARGETS = {
    "phone": "0812345{:05d}",
    "pln_meter": "1234{:07d}",
    "game_id": "77{:06d}",
    "game_id_zone": "88{:06d}",
    "email": "player{}@example.com",
}


def is_seeded(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(Product)).one() > 0


def seed(uow: Callable[[], UnitOfWork], *, say: Callable[[str], None] = print, orders: int = 60) -> bool:
    """Write the demo data unless products exist already; returns whether it wrote anything."""
    with uow() as u:
        if is_seeded(u.session):
            say("demo data already present: nothing to do")
            return False
        _catalog(u.session)
        u.session.add(FxRate(pair="IDR/TWD", rate=DEMO_RATE, source="seed"))
        _promos(u.session)
        for username, password, role in (DEMO_OPERATOR, DEMO_VIEWER):
            create_operator(u.session, username, password, role, display_name=username.title())
        for i in range(12):
            u.session.add(Customer(line_user_id=f"Udemo{i:04d}", display_name=f"Demo customer {i + 1}"))
        u.commit()
    say(f"catalog: {len(PRODUCTS)} products, {len(SUPPLIERS)} suppliers; operators and customers written")
    _orders(uow, orders, say)
    with uow() as u:  # the demo history happened in the past: its side effects are not to be sent now
        u.session.execute(text("UPDATE outbox SET dispatched_at = now() WHERE dispatched_at IS NULL"))
        u.commit()
    return True


def _catalog(s: Session) -> None:
    cats = {}
    for i, (code, name, kind, is_game) in enumerate(CATEGORIES):
        cats[code] = ProductCategory(code=code, name=name, kind=kind, is_game=is_game, sort_order=i)
        s.add(cats[code])
    sups = {
        code: Supplier(code=code, name=name, fee_twd=fee_twd, fee_idr=fee_idr)
        for code, name, fee_twd, fee_idr in SUPPLIERS
    }
    s.add_all(sups.values())
    s.flush()
    now = datetime.now(UTC)
    for code, cat, name, price, nominal, kind, offers in PRODUCTS:
        p = Product(
            code=code,
            category_id=cats[cat].id,
            name=name,
            price_twd=price,
            nominal_idr=nominal,
            target_kind=kind,
        )
        s.add(p)
        s.flush()
        for sup, (sku, cost) in offers.items():
            s.add(
                SupplierOffer(
                    supplier_id=sups[sup].id, product_id=p.id, supplier_sku=sku, cost_idr=cost, synced_at=now
                )
            )


def _promos(s: Session) -> None:
    now = datetime.now(UTC)
    s.add(Promo(code="HEMAT10", kind="percent", value=10, max_discount_twd=30, max_uses=1000))
    s.add(Promo(code="WELCOME20", kind="amount", value=20, min_order_twd=50))
    s.add(Promo(code="LEBARAN", kind="percent", value=15, ends_at=now - timedelta(days=30)))


def _orders(uow: Callable[[], UnitOfWork], count: int, say: Callable[[str], None]) -> None:
    rng = random.Random(2026)
    now = datetime.now(UTC)
    with uow() as u:
        customers = u.session.exec(select(Customer.id)).all()
        kinds = dict(  # the demo's history is of top-ups: a bill is ordered from its inquiry only
            u.session.exec(
                select(Product.code, Product.target_kind)
                .join(ProductCategory, col(ProductCategory.id) == col(Product.category_id))
                .where(ProductCategory.kind != "postpaid")
                .order_by(col(Product.id))
            ).all()
        )
    fates = ["success"] * 36 + [
        "pending",
        "expired",
        "expired",
        "expired",
        "refunded",
        "refunded",
        "partial",
        "review",
        "paid_stuck",
        "supplier_pending",
    ]
    policy = OrderPolicy(fx_max_age=timedelta(days=30))
    for n in range(count):
        placed_at = (
            now - timedelta(minutes=rng.randint(15, 7 * 24 * 60))
            if n >= 6
            else now - timedelta(minutes=3 + n * 20)
        )
        fate = (
            fates[n % len(fates)]
            if n >= 6
            else ["pending", "success", "review", "paid_stuck", "supplier_pending", "partial"][n]
        )
        codes = rng.sample(list(kinds), 2 if fate == "partial" else 1)
        lines = tuple(_line(code, kinds[code], rng) for code in codes)
        with uow() as u:
            placed = place_order(
                u, OrderRequest(rng.choice(customers), f"seed-{n}", lines), now=placed_at, policy=policy
            )
        _play(uow, placed.payment_id, fate, placed_at, rng)
        if (n + 1) % 20 == 0:
            say(f"demo orders: {n + 1}/{count}")


def _line(code: str, kind: str, rng: random.Random) -> OrderLine:
    target = TARGETS[kind].format(rng.randint(0, 99999))
    operator = operator_of_product(code, "") if kind == "phone" else None
    if operator is not None:  # a number of the product's own operator (orders refuse another's)
        target = PREFIXES[operator][0] + target[4:]
    return OrderLine(code, target, zone=str(rng.randint(1000, 9999)) if kind == "game_id_zone" else None)


def _play(uow, pid: int, fate: str, at: datetime, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """Move a seeded order to its fate through the real transitions (history rows included)."""
    if fate == "pending":
        return
    with uow() as u:
        s = u.session
        if fate == "expired":
            transition_payment(
                s, pid, PaymentStatus.EXPIRED, cause="demo: not paid in time", actor="system:reconciler"
            )
            u.commit()
            return
        payment = s.get_one(Payment, pid)
        paid_at = at + timedelta(minutes=rng.randint(1, 6))
        transition_payment(
            s,
            pid,
            PaymentStatus.PAID,
            cause=f"ECPay notification: paid NT${payment.amount_twd}",
            actor="ecpay",
            values={
                "paid_at": paid_at,
                "paid_amount_twd": payment.amount_twd,
                "ecpay_trade_no": f"23{rng.randint(10**13, 10**14 - 1)}",
                "payment_method": "Credit_CreditCard",
            },
        )
        s.add(
            GatewayEvent(
                payment_id=pid,
                merchant_trade_no=payment.merchant_trade_no,
                kind="notification",
                fields={"RtnCode": "1", "TradeAmt": str(payment.amount_twd), "demo": "seed"},
                verified=True,
                outcome="accepted",
            )
        )
        items = s.exec(select(PaymentItem).where(PaymentItem.payment_id == pid)).all()
        for i, item in enumerate(items):
            if fate == "paid_stuck":
                continue
            item_fate = {
                "partial": "success" if i == 0 else "failed",
                "refunded": "failed",
                "review": "review",
                "supplier_pending": "pending",
            }.get(fate, "success")
            _item(s, item, item_fate, paid_at, rng)
        finish_payment_if_done(s, pid)
        if fate in ("refunded", "partial"):
            transition_payment(
                s, pid, PaymentStatus.REFUND_PENDING, cause="demo: refund started", actor="system:refunds"
            )
            refund = payment.amount_twd if fate == "refunded" else payment.amount_twd // 2
            transition_payment(
                s,
                pid,
                PaymentStatus.REFUNDED,
                cause=f"ECPay DoAction R: NT${refund} refunded",
                actor="system:refunds",
                values={"refunded_twd": refund},
            )
        u.commit()


def _demo_delivery(sku: str, rng: random.Random) -> Delivery:
    """What the supplier would have delivered for `sku`: a PLN token with its meter facts, a voucher's serial and
    PIN (IAK) or voucher code (Lapak Gaming), else a serial."""
    serial = f"SN{rng.randint(10**11, 10**12 - 1)}"
    if "pln" in sku.lower():
        digits = f"{rng.randint(0, 10**20 - 1):020d}"
        token = "-".join(digits[i : i + 4] for i in range(0, 20, 4))
        return Delivery(token=token, customer_name="DEMO PELANGGAN", tariff="R1/1300VA", kwh="13.5")
    if sku == "hsteam12000":
        return Delivery(serial=serial, pin=f"{rng.randint(0, 10**9 - 1):09d}")
    if sku.startswith(("VCGS", "STEAM")):
        code = "-".join(f"{rng.randint(0, 16**4 - 1):04X}" for _ in range(4))
        return Delivery(serial=f"RA{rng.randint(10**17, 10**18 - 1)}", voucher_code=code)
    return Delivery(serial=serial)


def _item(s: Session, item: PaymentItem, fate: str, at: datetime, rng: random.Random) -> None:
    offer, supplier = s.exec(
        select(SupplierOffer, Supplier)
        .join(Supplier, Supplier.id == SupplierOffer.supplier_id)  # type: ignore[arg-type]
        .where(SupplierOffer.product_id == item.product_id)
        .order_by(SupplierOffer.cost_idr)
    ).first()
    transition_item(s, item.id, ItemStatus.PROCESSING, cause="paid: fulfil", actor="system:fulfillment")  # type: ignore[arg-type]
    state = {"success": "SUCCESS", "failed": "FAILED", "review": "UNKNOWN", "pending": "PENDING"}[fate]
    attempt = ItemAttempt(
        item_id=item.id,
        supplier_id=supplier.id,
        reference=f"ESA{item.id}S{supplier.id}",
        state=state,
        failure_class="customer" if fate == "failed" else None,
        cost_idr=offer.cost_idr,
        cost_twd=(Decimal(offer.cost_idr) * DEMO_RATE).quantize(Decimal("0.0001")),
        request_json={
            "ref_id": f"ESA{item.id}S{supplier.id}",
            "product_code": offer.supplier_sku,
            "sign": "***",
        },
        response_json={"status": state, "demo": "seed"},
        latency_ms=rng.randint(120, 900),
        message="demo",
        created_at=at + timedelta(seconds=5),
    )
    s.add(attempt)
    s.flush()
    s.add(
        SupplierExchange(
            supplier_id=supplier.id,
            attempt_id=attempt.id,
            operation="purchase",
            method="POST",
            url=f"/{supplier.code}/purchase",
            request_json=attempt.request_json,
            response_json=attempt.response_json,
            http_status=200,
            latency_ms=attempt.latency_ms or 0,
        )
    )
    if fate == "success":
        delivered = _demo_delivery(offer.supplier_sku, rng)
        transition_item(
            s,
            item.id,
            ItemStatus.SUCCESS,
            cause=f"{supplier.code} purchase: SUCCESS",  # type: ignore[arg-type]
            actor=f"supplier:{supplier.code}",
            values={"artifact": delivered.token or delivered.serial},
        )
        store_delivery(s, item.id, attempt.id, delivered)  # type: ignore[arg-type]
    elif fate == "failed":
        transition_item(
            s,
            item.id,
            ItemStatus.FAILED,
            cause=f"{supplier.code} purchase: FAILED (customer)",  # type: ignore[arg-type]
            actor=f"supplier:{supplier.code}",
            values={"failure_reason": "destination number rejected"},
        )
    else:
        transition_item(
            s,
            item.id,
            ItemStatus.SUPPLIER_PENDING,
            cause=f"{supplier.code} purchase: {state}",  # type: ignore[arg-type]
            actor=f"supplier:{supplier.code}",
            values={
                "deadline_at": at + timedelta(hours=2),
                "next_check_at": datetime.now(UTC) + timedelta(days=1),
            },
        )
        if fate == "review":
            transition_item(
                s,
                item.id,
                ItemStatus.NEEDS_REVIEW,
                cause="outcome still unknown past the deadline",  # type: ignore[arg-type]
                actor="system:fulfillment",
            )
