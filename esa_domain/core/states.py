"""Every lifecycle in ESA, each a table beside the others: its states, the moves allowed from each, and what a
person reads about each state (the customer's wording in each language, the operator's, the badge colour, the
operator actions it allows).

A new state is one row here plus a migration (the status CHECK constraints are generated from these tables).
Every status change goes through `esa_domain.core.transitions`, which writes the legality read from here into
its statements; nothing else writes a status or a history row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

LANGUAGES = ("id", "en", "zh-Hant")  # Bahasa Indonesia first: most customers read it first


class IllegalTransition(ValueError):
    """The requested move is not in the transition table: a programming error, never a race."""


class OperatorAction(StrEnum):
    """What an operator may do from a state (the dashboard shows a button only where the table allows it)."""

    RETRY = "retry"  # re-dispatch a paid order's items that are not moving
    REFUND = "refund"  # start a refund, or mark one made by hand
    RESOLVE = "resolve"  # settle an item whose supplier outcome is unknown, with a reason


@dataclass(frozen=True)
class State:
    """One state of a lifecycle: where it may go, and how it reads."""

    to: frozenset[str]
    operator: str  # what an operator reads (dashboard, alerts)
    colour: str  # badge colour (a Radix colour name)
    customer: Mapping[str, str] = field(default_factory=dict)  # language -> what the customer reads
    # what the customer reads here once the order is paid, where that differs (an item waits for a worker)
    customer_paid: Mapping[str, str] = field(default_factory=dict)
    # the customer's screen stops watching: it moves on only if a person acts (final implies it)
    customer_final: bool = False
    actions: frozenset[OperatorAction] = frozenset()
    initial: bool = False  # a row is born in this state
    final: bool = False  # nothing moves on from here, ever


@dataclass(frozen=True)
class History:
    """Where a lifecycle's moves are recorded: the history table, and the key columns of a history row as SQL
    expressions over the moved row `t` ("NULL" for a key the lifecycle does not fill)."""

    table: str
    keys: Mapping[str, str]


class Lifecycle:
    """A state machine as data: `states` maps each status to its row; legality is read from here only."""

    def __init__(
        self,
        name: str,
        statuses: type[StrEnum],
        states: Mapping[StrEnum, State],
        *,
        table: str,
        column: str = "status",
        history: History | None = None,
        touch: str | None = "updated_at",
    ) -> None:
        missing = set(statuses) - set(states)
        if missing:
            raise ValueError(f"{name}: no row for {sorted(missing)}")
        for status, state in states.items():
            unknown = set(state.to) - set(statuses)
            if unknown:
                raise ValueError(f"{name}: {status} -> {sorted(unknown)}: not states of this lifecycle")
            if state.final and state.to:
                raise ValueError(f"{name}: {status} is final but may move to {sorted(state.to)}")
            for lang in {*state.customer, *state.customer_paid}:
                if lang not in LANGUAGES:
                    raise ValueError(f"{name}: {status} has wording in unknown language {lang!r}")
        self.name = name
        self.statuses = statuses
        self.states: Mapping[StrEnum, State] = MappingProxyType(dict(states))
        self.table = table
        self.column = column
        self.history = history  # where each move is recorded; None: the row's own columns are its record
        self.touch = touch  # a timestamp column every move sets to now()

    def __repr__(self) -> str:
        return f"Lifecycle({self.name})"

    def __getitem__(self, status: str) -> State:
        return self.states[self.statuses(status)]

    @property
    def transitions(self) -> dict[StrEnum, frozenset[StrEnum]]:
        return {s: frozenset(self.statuses(t) for t in st.to) for s, st in self.states.items()}

    @property
    def initial(self) -> frozenset[StrEnum]:
        return frozenset(s for s, st in self.states.items() if st.initial)

    @property
    def final(self) -> frozenset[StrEnum]:
        return frozenset(s for s, st in self.states.items() if st.final)

    def sources(self, to: str) -> frozenset[StrEnum]:
        """Every state from which `to` may be reached."""
        return frozenset(s for s, st in self.states.items() if to in st.to)

    def check(self, sources: Iterable[str], targets: Iterable[str]) -> None:
        """Raise IllegalTransition unless every source may move to every target."""
        for to in targets:
            bad = sorted(str(s) for s in sources if to not in self[s].to)
            if bad:
                raise IllegalTransition(f"{self.name}: {', '.join(bad)} -> {to} is not an allowed transition")

    def allowing(self, action: OperatorAction) -> frozenset[StrEnum]:
        """The states from which an operator may take `action`."""
        return frozenset(s for s, st in self.states.items() if action in st.actions)

    def customer_text(self, status: str, language: str = "id", *, paid: bool = False) -> str:
        """What the customer reads about `status` in `language` (`paid`: the order's money has arrived)."""
        state = self[status]
        wording = (paid and state.customer_paid) or state.customer
        return wording.get(language) or wording.get("id") or wording.get("en") or str(status)

    def customer_final(self, status: str) -> bool:
        """Whether the customer can stop watching: nothing moves on from here unless a person acts."""
        state = self[status]
        return state.final or state.customer_final


def _w(id_: str, en: str, zh: str) -> dict[str, str]:
    return {"id": id_, "en": en, "zh-Hant": zh}


A = OperatorAction


# ---- payment ------------------------------------------------------------------------------------------


class PaymentStatus(StrEnum):
    PENDING = "PENDING"  # order placed, waiting for ECPay
    PAID = "PAID"  # ECPay confirmed the money; fulfillment under way
    SUCCESS = "SUCCESS"  # every item delivered
    PARTIAL = "PARTIAL"  # some items delivered, some failed
    FAILED = "FAILED"  # no item delivered
    EXPIRED = "EXPIRED"  # never paid within the window
    REFUND_PENDING = "REFUND_PENDING"
    REFUNDED = "REFUNDED"
    NEEDS_REVIEW = "NEEDS_REVIEW"  # a refund that could not be made automatically: an operator decides


P = PaymentStatus

PAYMENT = Lifecycle(
    "payment",
    PaymentStatus,
    {
        P.PENDING: State(
            frozenset({P.PAID, P.EXPIRED}),
            "Waiting for ECPay",
            "gray",
            _w("Menunggu pembayaran Anda", "Waiting for your payment", "等待付款"),
            initial=True,
        ),
        # money that arrives after the window still moved: accept it and deliver (or refund), never ignore it
        P.EXPIRED: State(
            frozenset({P.PAID}),
            "Not paid within the window",
            "gray",
            _w("Tidak dibayar tepat waktu", "Not paid in time", "未在期限內付款"),
            customer_final=True,
        ),
        P.PAID: State(
            frozenset({P.SUCCESS, P.PARTIAL, P.FAILED}),
            "Paid, delivering",
            "blue",
            _w(
                "Sudah dibayar: pesanan Anda sedang dikirim",
                "Paid: your top-up is being delivered",
                "已付款：正在為您儲值",
            ),
            actions=frozenset({A.RETRY}),
        ),
        # an operator may still give money back (goodwill, a dispute): a refund of its own, the payment stays
        P.SUCCESS: State(
            frozenset(),
            "Delivered",
            "green",
            _w("Terkirim", "Delivered", "已完成"),
            actions=frozenset({A.REFUND}),
            final=True,
        ),
        P.PARTIAL: State(
            frozenset({P.REFUND_PENDING}),
            "Partly delivered, refund due",
            "amber",
            _w(
                "Sebagian terkirim: sisanya akan dikembalikan",
                "Partly delivered: the rest will be refunded",
                "部分完成：其餘款項將退還",
            ),
            actions=frozenset({A.REFUND}),
        ),
        P.FAILED: State(
            frozenset({P.REFUND_PENDING}),
            "Nothing delivered, refund due",
            "red",
            _w(
                "Tidak terkirim: dana akan dikembalikan",
                "Not delivered: it will be refunded",
                "未完成：款項將退還",
            ),
            actions=frozenset({A.REFUND}),
        ),
        P.REFUND_PENDING: State(
            frozenset({P.REFUNDED, P.NEEDS_REVIEW}),
            "Refund under way",
            "purple",
            _w("Dana sedang dikembalikan", "Being refunded", "退款處理中"),
        ),
        P.REFUNDED: State(
            frozenset(),
            "Refunded",
            "purple",
            _w("Dana sudah dikembalikan", "Refunded", "已退款"),
            actions=frozenset({A.REFUND}),  # what is left of a partly delivered order, as goodwill
            final=True,
        ),
        # an operator refunded by hand (non-card methods have no refund API)
        P.NEEDS_REVIEW: State(
            frozenset({P.REFUNDED}),
            "Refund needs an operator",
            "orange",
            _w(
                "Tim kami sedang memeriksa pengembalian dana Anda",
                "Our team is reviewing your refund",
                "我們的團隊正在處理您的退款",
            ),
            actions=frozenset({A.REFUND}),
            customer_final=True,
        ),
    },
    table="payments",
    history=History("payment_history", {"payment_id": "t.id", "item_id": "NULL"}),
)


# ---- item ---------------------------------------------------------------------------------------------


class ItemStatus(StrEnum):
    PENDING = "PENDING"  # waiting for the payment
    PROCESSING = "PROCESSING"  # a worker owns it and is talking to a supplier
    SUPPLIER_PENDING = "SUPPLIER_PENDING"  # a supplier's answer is pending or unknown: wait, never fall back
    # every remaining supplier is held back for now (an open breaker, a deposit too low): wait for one, never fail
    WAITING = "WAITING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    NEEDS_REVIEW = "NEEDS_REVIEW"  # still unknown past its deadline: an operator decides


It = ItemStatus

ITEM = Lifecycle(
    "item",
    ItemStatus,
    {
        It.PENDING: State(
            frozenset({It.PROCESSING}),
            "Waiting for payment or a worker",
            "gray",
            _w("Menunggu pembayaran", "Waiting for payment", "等待付款"),
            customer_paid=_w("Dalam antrean pengiriman", "Queued for delivery", "排隊等候處理"),
            initial=True,
        ),
        It.PROCESSING: State(
            frozenset({It.SUCCESS, It.FAILED, It.SUPPLIER_PENDING, It.WAITING}),
            "A worker is buying it",
            "blue",
            _w("Sedang dikirim", "Delivering", "處理中"),
        ),
        It.SUPPLIER_PENDING: State(
            frozenset({It.PROCESSING, It.NEEDS_REVIEW}),
            "Waiting for the supplier's answer",
            "amber",
            _w("Sedang dikirim", "Delivering", "處理中"),
        ),
        # a worker takes it again once a held-back supplier may be tried (cool-down over, breaker closed)
        It.WAITING: State(
            frozenset({It.PROCESSING}),
            "Waiting for a held-back supplier (open breaker, low deposit) or an operator (margin floor)",
            "amber",
            _w("Sedang dikirim", "Delivering", "處理中"),
        ),
        It.SUCCESS: State(
            frozenset(),
            "Delivered",
            "green",
            _w("Terkirim", "Delivered", "已完成"),
            final=True,
        ),
        It.FAILED: State(
            frozenset(),
            "Not delivered",
            "red",
            _w("Tidak terkirim", "Not delivered", "未完成"),
            final=True,
        ),
        # an operator resolves a review with a reason; a supplier's definite answer (a signed callback or a
        # status check) settles it through the normal path (PROCESSING, then its outcome), evidence first
        It.NEEDS_REVIEW: State(
            frozenset({It.SUCCESS, It.FAILED, It.PROCESSING}),
            "Supplier outcome unknown: an operator decides",
            "orange",
            _w("Sedang diperiksa", "Being checked", "確認中"),
            actions=frozenset({A.RESOLVE}),
            customer_final=True,
        ),
    },
    table="payment_items",
    history=History("payment_history", {"payment_id": "t.payment_id", "item_id": "t.id"}),
)


# ---- supplier attempt ---------------------------------------------------------------------------------


class AttemptState(StrEnum):
    """One purchase at one supplier for one item, under one reference (reused for every status check)."""

    SENDING = "SENDING"  # committed before the request leaves
    PENDING = "PENDING"  # the supplier said it is processing
    UNKNOWN = "UNKNOWN"  # no trustworthy answer: a status check with the same reference decides
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


At = AttemptState
_ANSWERS = frozenset({At.PENDING, At.UNKNOWN, At.SUCCESS, At.FAILED})

ATTEMPT = Lifecycle(
    "attempt",
    AttemptState,
    {
        At.SENDING: State(_ANSWERS, "Request leaving", "blue", initial=True),
        # a status check may answer pending again, or unknown again: the attempt stays live
        At.PENDING: State(_ANSWERS, "Supplier processing", "amber"),
        At.UNKNOWN: State(_ANSWERS, "Outcome unknown", "orange"),
        At.SUCCESS: State(frozenset(), "Delivered", "green", final=True),
        At.FAILED: State(frozenset(), "Refused", "red", final=True),
    },
    table="item_attempts",
    column="state",
    touch=None,
    # no history table: an attempt's record is its own row and every request and answer (supplier_exchanges)
)


# ---- refund -------------------------------------------------------------------------------------------


class RefundStatus(StrEnum):
    """One refund of one payment (payment, sequence), through ECPay DoAction or by an operator."""

    REQUESTED = "REQUESTED"  # written with its reason; the refund worker sends it (cards) after commit
    SENT = "SENT"  # committed before DoAction leaves: a crash after this is resumed by asking ECPay first
    CONFIRMED = "CONFIRMED"  # the money went back (ECPay's answer or record, or the operator's reference)
    FAILED = "FAILED"  # ECPay refused it: nothing moved; an operator takes it over by hand
    MANUAL = "MANUAL"  # no refund API (ATM, CVS, barcode) or refused: an operator's task


R = RefundStatus

REFUND = Lifecycle(
    "refund",
    RefundStatus,
    {
        R.REQUESTED: State(
            frozenset({R.SENT, R.MANUAL}),
            "Refund requested",
            "gray",
            _w("Pengembalian dana diminta", "Refund requested", "已申請退款"),
            initial=True,
        ),
        # past its resume grace an operator may close it with what ECPay's back office shows (a reference)
        R.SENT: State(
            frozenset({R.CONFIRMED, R.FAILED}),
            "Sent to ECPay, answer not recorded",
            "blue",
            _w("Dana sedang dikembalikan", "Being refunded", "退款處理中"),
            actions=frozenset({A.REFUND}),
        ),
        R.CONFIRMED: State(
            frozenset(),
            "Refunded",
            "purple",
            _w("Dana sudah dikembalikan", "Refunded", "已退款"),
            final=True,
        ),
        R.FAILED: State(
            frozenset({R.MANUAL}),
            "ECPay refused it: refund by hand",
            "red",
            _w(
                "Tim kami sedang memeriksa pengembalian dana Anda",
                "Our team is reviewing your refund",
                "我們的團隊正在處理您的退款",
            ),
            actions=frozenset({A.REFUND}),
            customer_final=True,
        ),
        R.MANUAL: State(
            frozenset({R.CONFIRMED}),
            "Operator task: refund by hand",
            "orange",
            _w(
                "Tim kami akan mengembalikan dana Anda",
                "Our team will refund you",
                "我們的團隊將為您退款",
            ),
            actions=frozenset({A.REFUND}),
            customer_final=True,
        ),
    },
    table="refunds",
    history=History("refund_history", {"refund_id": "t.id", "payment_id": "t.payment_id"}),
)
REFUND_LIVE: tuple[RefundStatus, ...] = (R.REQUESTED, R.SENT)  # at most one per payment (uq_refund_one_live)
REFUND_OPEN = frozenset(set(RefundStatus) - REFUND.final)  # not finished: the stuck list watches these


# ---- customer message ----------------------------------------------------------------------------------


class MessageStatus(StrEnum):
    """One LINE message to a customer about one outcome of one order (esa_domain.ordering.notify)."""

    QUEUED = "QUEUED"  # written with the outcome; pushed after commit, retried with its own retry key
    SENT = "SENT"  # LINE accepted it (or answered 409: an earlier try with its retry key got through)
    FAILED = "FAILED"  # LINE refused it for good (unknown user, the month's message limit used up)
    SKIPPED = "SKIPPED"  # nothing to say any more (a payment-code reminder for an order paid meanwhile)


M = MessageStatus

MESSAGE = Lifecycle(
    "customer message",
    MessageStatus,
    {
        M.QUEUED: State(
            frozenset({M.SENT, M.FAILED, M.SKIPPED}), "Waiting to be pushed to LINE", "gray", initial=True
        ),
        M.SENT: State(frozenset(), "Sent in LINE", "green", final=True),
        M.FAILED: State(frozenset(), "LINE refused it", "red", final=True),
        M.SKIPPED: State(frozenset(), "Not needed any more", "gray", final=True),
    },
    table="customer_messages",
    history=History("customer_message_history", {"message_id": "t.id", "payment_id": "t.payment_id"}),
    touch=None,
)


# ---- bill inquiry ---------------------------------------------------------------------------------------


class BillInquiryStatus(StrEnum):
    """One inquiry of one bill at one supplier (esa_domain.ordering.bills): asked, answered, then paid once."""

    REQUESTED = "REQUESTED"  # committed before the inquiry leaves
    QUOTED = (
        "QUOTED"  # the supplier found the bill: name, periods, amount, fee, TWD total, held until expires_at
    )
    NOT_FOUND = "NOT_FOUND"  # no bill to pay: unknown number, or already paid (the customer's answer)
    FAILED = "FAILED"  # the supplier could not answer (timeout, maintenance, unknown code): ask again later
    USED = "USED"  # an order was placed from it (one, ever): its payment pays exactly this bill
    EXPIRED = "EXPIRED"  # its time passed unused: a fresh inquiry is needed


B = BillInquiryStatus

BILL_INQUIRY = Lifecycle(
    "bill inquiry",
    BillInquiryStatus,
    {
        B.REQUESTED: State(
            frozenset({B.QUOTED, B.NOT_FOUND, B.FAILED}),
            "Inquiry sent to the supplier",
            "gray",
            _w("Sedang mencari tagihan", "Looking up the bill", "正在查詢帳單"),
            initial=True,
        ),
        B.QUOTED: State(
            frozenset({B.USED, B.EXPIRED}),
            "Bill found, quote held",
            "blue",
            _w("Tagihan ditemukan", "Bill found", "已找到帳單"),
        ),
        B.NOT_FOUND: State(
            frozenset(),
            "No bill to pay (unknown number or already paid)",
            "gray",
            _w("Tagihan tidak ditemukan", "No bill found", "查無帳單"),
            final=True,
        ),
        B.FAILED: State(
            frozenset(),
            "Supplier could not answer the inquiry",
            "red",
            _w("Tagihan tidak dapat dicek sekarang", "The bill cannot be checked now", "目前無法查詢帳單"),
            final=True,
        ),
        B.USED: State(
            frozenset(),
            "An order pays this bill",
            "green",
            _w("Dipesan", "Ordered", "已下單"),
            final=True,
        ),
        B.EXPIRED: State(
            frozenset(),
            "Quote expired unused",
            "gray",
            _w("Penawaran kedaluwarsa", "Quote expired", "報價已過期"),
            final=True,
        ),
    },
    table="bill_inquiries",
    history=History("bill_inquiry_history", {"inquiry_id": "t.id", "customer_id": "t.customer_id"}),
)


# ---- e-invoice (issue 19) ------------------------------------------------------------------------------


class InvoiceStatus(StrEnum):
    """One ECPay B2C e-invoice (統一發票) per payment (esa_domain.invoicing.issuing), under one RelateNumber.

    The row and its RelateNumber are written in the transaction that settles the payment (SUCCESS or PARTIAL):
    the Issue request goes out after commit, and a retry asks ECPay (GetIssue by RelateNumber) before issuing.
    """

    PENDING = "PENDING"  # written with the payment's settlement; its Issue request leaves after commit
    ISSUED = (
        "ISSUED"  # ECPay issued it: InvoiceNo, RandomNumber, date (allowances may follow, it stays ISSUED)
    )
    FAILED = "FAILED"  # ECPay refused it (a carrier it does not know, bad data): an operator is alerted
    VOID = "VOID"  # nothing to issue: everything was refunded before it was issued (never sent to ECPay)
    INVALIDATED = "INVALIDATED"  # ECPay invalidated it (作廢): a full refund inside the allowed period


Iv = InvoiceStatus

INVOICE = Lifecycle(
    "invoice",
    InvoiceStatus,
    {
        Iv.PENDING: State(
            frozenset({Iv.ISSUED, Iv.FAILED, Iv.VOID}),
            "Invoice being issued at ECPay",
            "gray",
            _w("Faktur sedang dibuat", "Invoice being issued", "發票開立中"),
            initial=True,
        ),
        Iv.ISSUED: State(
            frozenset({Iv.INVALIDATED}),
            "Invoice issued",
            "green",
            _w("Faktur sudah terbit", "Invoice issued", "發票已開立"),
        ),
        # ECPay's definite answer settles it: a query that finds it issued (a retry, an operator) moves it on
        Iv.FAILED: State(
            frozenset({Iv.ISSUED, Iv.VOID}),
            "ECPay refused the invoice: an operator looks",
            "red",
            _w(
                "Faktur sedang diperiksa tim kami",
                "Our team is checking your invoice",
                "我們正在處理您的發票",
            ),
        ),
        # ECPay's definite answer settles it: an Issue that got through after all is ISSUED (then adjusted)
        Iv.VOID: State(
            frozenset({Iv.ISSUED}),
            "Nothing to invoice: refunded before issue",
            "gray",
            _w("Tidak ada faktur: dana dikembalikan", "No invoice: refunded", "已退款，無發票"),
        ),
        Iv.INVALIDATED: State(
            frozenset(),
            "Invoice invalidated (full refund)",
            "purple",
            _w("Faktur dibatalkan", "Invoice cancelled", "發票已作廢"),
            final=True,
        ),
    },
    table="invoices",
    history=History(
        "invoice_history", {"invoice_id": "t.id", "payment_id": "t.payment_id", "adjustment_id": "NULL"}
    ),
)


class AdjustmentStatus(StrEnum):
    """One adjustment of an issued invoice for one refund (table invoice_allowances, `kind`): an allowance
    (折讓, part of it) or an invalidation (作廢, all of it inside the allowed period), under its own reference."""

    REQUESTED = "REQUESTED"  # written with the refund's confirmation; sent to ECPay after commit
    DONE = "DONE"  # ECPay made it (AllowanceNo, or the invoice invalidated)
    FAILED = "FAILED"  # ECPay refused it: an operator is alerted; a later definite answer may still settle it


Ad = AdjustmentStatus

ADJUSTMENT = Lifecycle(
    "invoice adjustment",
    AdjustmentStatus,
    {
        Ad.REQUESTED: State(
            frozenset({Ad.DONE, Ad.FAILED}), "Invoice adjustment requested", "gray", initial=True
        ),
        Ad.DONE: State(frozenset(), "Invoice adjusted at ECPay", "green", final=True),
        Ad.FAILED: State(frozenset({Ad.DONE}), "ECPay refused the adjustment: an operator looks", "red"),
    },
    table="invoice_allowances",
    history=History(
        "invoice_history",
        {"invoice_id": "t.invoice_id", "payment_id": "t.payment_id", "adjustment_id": "t.id"},
    ),
)
INVOICE_OPEN = frozenset({Iv.PENDING, Iv.FAILED})  # the watchdog and the heal look at these
ADJUSTMENT_OPEN = frozenset({Ad.REQUESTED, Ad.FAILED})


# ---- derived sets, used by indexes, scans and pages ---------------------------------------------------

LIFECYCLES = (PAYMENT, ITEM, ATTEMPT, REFUND, MESSAGE, BILL_INQUIRY, INVOICE, ADJUSTMENT)

PAYMENT_TRANSITIONS = PAYMENT.transitions
ITEM_TRANSITIONS = ITEM.transitions
# not scanned: finished for good, or EXPIRED (a late payment still moves it, through ECPay's notification)
PAYMENT_FINAL = frozenset({P.SUCCESS, P.REFUNDED, P.EXPIRED})
PAYMENT_OPEN = frozenset(set(PaymentStatus) - PAYMENT_FINAL)  # what the reconciler and the stuck list scan
ITEM_FINAL = ITEM.final
ITEM_OPEN = frozenset({It.PENDING, It.PROCESSING, It.SUPPLIER_PENDING, It.WAITING})
# at most one live attempt per item (uq_attempt_one_live); a tuple in the table's order, as the indexes spell it
ATTEMPT_LIVE: tuple[AttemptState, ...] = tuple(s for s in AttemptState if s not in ATTEMPT.final)


def sources_of(table: Mapping, to: StrEnum) -> frozenset:
    """Every state from which `to` may be reached, in a transitions mapping."""
    return frozenset(src for src, targets in table.items() if to in targets)


def payment_status_from_items(items: list[ItemStatus]) -> PaymentStatus | None:
    """The payment status its items imply once all are final; None while any is still moving.

    The same rule runs in SQL in `esa_domain.payments.settlement.settle_ctes` (the statement that finishes
    the last item settles its payment); tests check the two agree on every combination."""
    if not items or any(s not in ITEM_FINAL for s in items):
        return None
    delivered = sum(s is It.SUCCESS for s in items)
    if delivered == len(items):
        return P.SUCCESS
    return P.PARTIAL if delivered else P.FAILED
