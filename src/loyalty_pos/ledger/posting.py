"""How each event becomes double-entry transfers and changes a member's record (DESIGN.md §9).

Pure: no database, no clock. The store loads the members and cards an event touches into a
``Book``, ``post`` applies one event to it, and the store writes back what changed. Every transfer
moves a positive number of points from one account to another, so debits equal credits in each
transfer and all balances always sum to zero. There is deliberately no rule that moves points from
one member to another.

Accounts: ``member:<id>``, ``program:issued`` (points earned at checkouts), ``program:redeemed``
(points paid with), ``program:expired``, ``program:adjusted`` (manual corrections).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from loyalty_pos import canonical
from loyalty_pos.domain.lots import Account, Lot, merged, points_by_dates

from . import wire

ISSUED = "program:issued"
REDEEMED = "program:redeemed"
EXPIRED = "program:expired"
ADJUSTED = "program:adjusted"
PROGRAM_ACCOUNTS = (ISSUED, REDEEMED, EXPIRED, ADJUSTED)


def member_account(member_id: str) -> str:
    return f"member:{member_id}"


class EventInvalid(ValueError):
    """The event is well-formed but cannot be applied (unknown member, a card of someone else...)."""


class Transfer(NamedTuple):
    """Points moved from ``debit`` to ``credit`` (a tuple: pushes build one or two per event).

    Attributes:
        kind: earn, redeem, reverse, restore, expire, unexpire, adjust_in, adjust_out.
            ``unexpire``: points an expiry run wrote off that a refund then takes back with its
            sale (they go back through the member's account to ``issued``).
        amount: always positive; the direction is in debit/credit.
        member_id: the member whose account is one side of the transfer.
        lot: of an ``unexpire``, the written-off lot's earning day and expiry (the store dates
            the transfer at the run that wrote it off, or at the event when that came after).
    """

    kind: str
    debit: str
    credit: str
    amount: int
    member_id: str
    lot: tuple[date, date | None] | None = None


#: The empty counters a new record starts with: read-only, so one can be shared.
_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


class MemberRecord(NamedTuple):
    """A member as the ledger knows them: details, cards, points lots, counters.

    ``account`` holds every lot not yet expired by an ``expire`` event (lapsed ones included) and
    the debt; its booked balance equals the sum of the member's transfers. A tuple rather than a
    frozen dataclass: every pushed event builds a new one, which a tuple does in a fraction of the
    time.
    """

    member_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    birthday: str | None = None
    status: str = "active"
    cards: tuple[tuple[str, str], ...] = ()
    account: Account = Account()
    punch: Mapping[str, int] = _NO_COUNTS
    last_birthday_bonus: str | None = None
    counted_through: Mapping[str, int] = _NO_COUNTS
    enrolled_at: str = ""
    enrolled_us: int = 0
    #: the days of the birthday bonuses that stand (one entry for each: two offline tills can
    #: give one each on a day), the latest last; ``last_birthday_bonus`` is the latest
    bonus_days: tuple[str, ...] = ()
    #: lots the expiry runs wrote off, as they lapsed (kept ``WRITTEN_OFF_DAYS`` after that): a
    #: till's sale dated before the run that paid with them, pushed after it, spent them (they
    #: did not expire); a refund of the sale that earned one takes its points that lapsed unused
    #: from here, not from the member's other points (``_take``)
    written_off: tuple[Lot, ...] = ()

    @property
    def balance(self) -> int:
        return _booked(self.account)

    @property
    def next_expiry(self) -> str | None:
        dated = [lot.expires_at for lot in self.account.lots if lot.expires_at is not None]
        return min(dated).isoformat() if dated else None

    def to_state(self) -> str:
        """The record as stored: compact JSON with sorted keys (written for every member a push
        changes, so through orjson: ``canonical.dumps``)."""
        state: dict[str, Any] = {
            "member_id": self.member_id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "birthday": self.birthday,
            "status": self.status,
            "cards": self.cards,  # pairs, written as JSON arrays
            "lots": [lot.to_json() for lot in self.account.lots],
            "debt": self.account.debt,
            "punch": _plain(self.punch),
            "last_birthday_bonus": self.last_birthday_bonus,
            "counted_through": _plain(self.counted_through),
            "enrolled_at": self.enrolled_at,
            "enrolled_us": self.enrolled_us,
        }
        if self.bonus_days != _one(self.last_birthday_bonus):  # more than the last: say which
            state["bonus_days"] = self.bonus_days
        if self.written_off:
            state["written_off"] = [lot.to_json() for lot in self.written_off]
        owed = self.account.owed_json()  # what a refund left owed: rare, written when any
        if owed is not None:
            state.update(owed)
        return canonical.dumps(state)

    @staticmethod
    def from_state(text: str) -> MemberRecord:
        d = canonical.loads(text)
        return MemberRecord(
            member_id=d["member_id"],
            name=d["name"],
            email=d["email"],
            phone=d["phone"],
            birthday=d["birthday"],
            status=d["status"],
            cards=tuple((c, s) for c, s in d["cards"]),
            account=_account(d),
            punch=d["punch"],
            last_birthday_bonus=d["last_birthday_bonus"],
            counted_through=d["counted_through"],
            enrolled_at=d["enrolled_at"],
            enrolled_us=d["enrolled_us"],
            # written only where they are more than the last bonus, once
            bonus_days=tuple(d.get("bonus_days") or _one(d["last_birthday_bonus"])),
            written_off=tuple(Lot.from_json(x) for x in d.get("written_off") or ()),
        )


def _plain(counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` as a dict for JSON (a new record's are a read-only view), not copied twice."""
    return counts if type(counts) is dict else dict(counts)


@dataclass(frozen=True, slots=True)
class CardRow:
    member_id: str
    status: str


Loader = Callable[[Iterable[str]], Mapping[str, Any]]


class Book:
    """The members and cards one transaction works on, and which of them changed.

    ``load_members`` / ``load_cards`` fetch what was not preloaded (None entries are remembered as
    absent), so the store can bulk-load a whole batch up front and still be correct for the rest.
    """

    def __init__(
        self, load_members: Loader, load_cards: Loader, currency: str | None = None
    ) -> None:
        self._load_members = load_members
        self._load_cards = load_cards
        #: The ledger's program's currency: a sale or refund in another is refused (None: no
        #: program yet, any is taken).
        self.currency = currency
        self.members: dict[str, MemberRecord | None] = {}
        self.cards: dict[str, CardRow | None] = {}
        self.new_members: set[str] = set()
        self.changed_members: dict[str, int] = {}
        self.new_cards: set[str] = set()
        self.changed_cards: set[str] = set()

    def preload(self, member_ids: Iterable[str], cards: Iterable[str]) -> None:
        cards = [c for c in set(cards) if c not in self.cards]
        found_cards = self._load_cards(cards) if cards else {}
        for card in cards:
            self.cards[card] = found_cards.get(card)
        wanted = set(member_ids) | {row.member_id for row in found_cards.values()}
        wanted = {m for m in wanted if m not in self.members}
        found = self._load_members(wanted) if wanted else {}
        for member_id in wanted:
            self.members[member_id] = found.get(member_id)

    def member(self, member_id: str) -> MemberRecord | None:
        if member_id not in self.members:
            self.preload([member_id], [])
        return self.members[member_id]

    def card(self, card: str) -> CardRow | None:
        if card not in self.cards:
            self.preload([], [card])
        return self.cards[card]

    def put_member(self, record: MemberRecord, gseq: int) -> None:
        if self.members.get(record.member_id) is None:
            self.new_members.add(record.member_id)
        self.members[record.member_id] = record
        self.changed_members[record.member_id] = gseq

    def put_card(self, card: str, row: CardRow) -> None:
        if self.cards.get(card) is None:
            self.new_cards.add(card)
        self.cards[card] = row
        self.changed_cards.add(card)


def mask(card: str) -> str:
    """Card ids are shown with all but the last 4 characters masked (DESIGN.md §3)."""
    return "…" + card[-4:] if len(card) > 4 else card


def _lots(lots: Iterable[wire.LotIn]) -> list[Lot]:
    return [Lot(lot.points, lot.earned_at, lot.expires_at) for lot in lots]


def _account(state: Mapping[str, Any]) -> Account:
    """A stored record's account: its lots and debt, and what a refund left owed if any."""
    lots = tuple(Lot.from_json(x) for x in state["lots"])
    return Account(lots, state["debt"]).with_owed_json(state)


def _compact(account: Account) -> Account:
    """Lots of the same earning day and expiry are one lot: they are spent and lapse together.
    Most accounts have none to merge, and come back as they are."""
    if len({(lot.earned_at, lot.expires_at) for lot in account.lots}) == len(account.lots):
        return account
    return replace(account, lots=merged(account.lots))


def _one(day: str | None) -> tuple[str, ...]:
    return (day,) if day else ()


def _bonus_given(days: tuple[str, ...], on: str) -> tuple[str, ...]:
    """The standing bonus days with one more given ``on``, in order; those more than two years
    before the latest are dropped (the bonus comes once in 365 days: they decide nothing)."""
    kept = sorted((*days, on))
    latest = date.fromisoformat(kept[-1])
    return tuple(d for d in kept if (latest - date.fromisoformat(d)).days <= 2 * 365)


def _bump(counters: Mapping[str, int], deltas: Mapping[str, int]) -> dict[str, int]:
    result = dict(counters)
    for sku, delta in deltas.items():
        result[sku] = result.get(sku, 0) + delta  # below 0: a refund took punches a free unit used
    return {sku: n for sku, n in result.items() if n}


class Posted(NamedTuple):
    """What applying one event did: its transfers, the member it concerns, its qualifying spend
    (a tuple, like ``Transfer``: one for every event)."""

    transfers: tuple[Transfer, ...] = ()
    member_id: str | None = None
    spend_minor: int = 0


def post(book: Book, event: wire.EventIn, gseq: int, occurred_us: int) -> Posted:
    """Apply one validated event to the book. Raises EventInvalid, changing nothing, if it can't."""
    handler = _HANDLERS[event.type]
    return handler(book, event, gseq, occurred_us)


def _require_member(book: Book, member_id: str) -> MemberRecord:
    record = book.member(member_id)
    if record is None:
        raise EventInvalid(f"unknown member {member_id}")
    return record


def _resolve(book: Book, member_id: str | None, card: str | None) -> MemberRecord | None:
    if member_id is not None:
        return _require_member(book, member_id)
    if card is not None:
        row = book.card(card)
        if row is not None:
            return book.member(row.member_id)
    return None


def _counted(record: MemberRecord, event: wire.EventIn) -> Mapping[str, int]:
    if event.terminal_id == wire.LEDGER_TERMINAL:
        return record.counted_through
    counted = dict(record.counted_through)
    terminal_id, seq = event.terminal_id, event.seq
    if counted.get(terminal_id, 0) < seq:
        counted[terminal_id] = seq
    return counted


def _booked(account: Account) -> int:
    total = -account.debt
    for lot in account.lots:  # a loop, not sum() of a generator: twice per event, few lots
        total += lot.points
    return total


def _save(
    book: Book,
    before: MemberRecord,
    event: wire.EventIn,
    gseq: int,
    transfers: list[Transfer],
    spend: int = 0,
    **changes: Any,
) -> Posted:
    """Store the member as ``before`` with ``changes``, after checking that the change of their
    booked balance is exactly what the transfers move."""
    account = _compact(changes.pop("account", before.account))
    name = member_account(before.member_id)
    moved = 0
    for t in transfers:
        if t.credit == name:
            moved += t.amount
        if t.debit == name:
            moved -= t.amount
    if _booked(account) - _booked(before.account) != moved:  # pragma: no cover - a bug
        raise AssertionError(f"{event.type} {event.event_id}: lots and transfers disagree")
    after = _evolve(before, account, _counted(before, event), changes)
    book.put_member(after, gseq)
    return Posted(tuple(transfers), after.member_id, spend)


def _evolve(
    before: MemberRecord,
    account: Account,
    counted_through: Mapping[str, int],
    changes: Mapping[str, Any],
) -> MemberRecord:
    """``dataclasses.replace(before, account=..., counted_through=..., **changes)``, spelled
    out: it runs for every event of every push and ``replace`` is several times dearer."""
    if not changes:  # most events: a checkout changes the account alone
        return MemberRecord(
            before.member_id,
            before.name,
            before.email,
            before.phone,
            before.birthday,
            before.status,
            before.cards,
            account,
            before.punch,
            before.last_birthday_bonus,
            counted_through,
            before.enrolled_at,
            before.enrolled_us,
            before.bonus_days,
            before.written_off,
        )
    if not changes.keys() <= _CHANGEABLE:
        raise TypeError(f"not fields of a member record: {sorted(changes.keys() - _CHANGEABLE)}")
    get = changes.get
    return MemberRecord(
        member_id=before.member_id,
        name=get("name", before.name),
        email=get("email", before.email),
        phone=get("phone", before.phone),
        birthday=get("birthday", before.birthday),
        status=get("status", before.status),
        cards=get("cards", before.cards),
        account=account,
        punch=get("punch", before.punch),
        last_birthday_bonus=get("last_birthday_bonus", before.last_birthday_bonus),
        counted_through=counted_through,
        enrolled_at=get("enrolled_at", before.enrolled_at),
        enrolled_us=get("enrolled_us", before.enrolled_us),
        bonus_days=get("bonus_days", before.bonus_days),
        written_off=get("written_off", before.written_off),
    )


_CHANGEABLE = frozenset(MemberRecord._fields) - {
    "member_id",
    "account",
    "counted_through",
}


def _enroll(book: Book, e: wire.Enroll, gseq: int, occurred_us: int) -> Posted:
    if book.member(e.member_id) is not None:
        raise EventInvalid(f"member {e.member_id} is already enrolled")
    cards: tuple[tuple[str, str], ...] = ()
    if e.card is not None:
        row = book.card(e.card)
        if row is not None:
            raise EventInvalid(f"card {mask(e.card)} already belongs to member {row.member_id}")
        book.put_card(e.card, CardRow(e.member_id, "active"))
        cards = ((e.card, "active"),)
    return _save(
        book,
        MemberRecord(e.member_id),
        e,
        gseq,
        [],
        name=e.name,
        email=e.email,
        phone=e.phone,
        birthday=e.birthday.isoformat() if e.birthday else None,
        cards=cards,
        enrolled_at=e.occurred_at.isoformat(),
        enrolled_us=occurred_us,
    )


def _same_currency(book: Book, e: wire.Checkout | wire.Refund) -> None:
    """Amounts are kept in minor units of the ledger's currency: a till whose program is in
    another (set up with its own file) would have them read as the ledger's."""
    if book.currency is not None and e.currency != book.currency:
        raise EventInvalid(
            f"its amounts are in {e.currency}, but the ledger keeps them in {book.currency} "
            "(the till's program is not the ledger's)"
        )


def _checkout(book: Book, e: wire.Checkout, gseq: int, occurred_us: int) -> Posted:
    _same_currency(book, e)
    record = _resolve(book, e.member_id, e.card)
    if record is None:
        if e.points_earned or e.points_redeemed:
            raise EventInvalid(f"card {mask(e.card or '')} is unknown: points need a member")
        return Posted(spend_minor=e.due_minor)  # a sale without a card still counts in reports
    on = e.occurred_at.date()
    acc = member_account(record.member_id)
    transfers: list[Transfer] = []
    changes: dict[str, Any] = {}
    # A till's sale reaching the ledger after an expiry run may have paid with points that were
    # live on its day and written off since: they were spent, not expired.
    paid = _take(record, e.points_redeemed, on, transfers, changes)
    if e.spent:
        # The till recorded the lots it paid from as it saw them; another till's sale may have
        # spent those already, and this one took others: its refund gives back the ones taken.
        off = changes.get("written_off", record.written_off)
        taken = points_by_dates((*record.account.lots, *record.written_off))
        for key, n in points_by_dates((*paid.lots, *off)).items():
            taken[key] = taken.get(key, 0) - n
        paid = paid.paid_instead(
            _lots(e.spent), [Lot(n, *key) for key, n in taken.items() if n > 0]
        )
    if e.points_redeemed:
        transfers.append(Transfer("redeem", acc, REDEEMED, e.points_redeemed, record.member_id))
    if e.points_earned:
        transfers.append(Transfer("earn", ISSUED, acc, e.points_earned, record.member_id))
    changes["account"] = paid.earn(_lots(e.lots))
    if e.punch_after or e.punch_before:
        after, before = e.punch_after, e.punch_before
        deltas = {s: after.get(s, 0) - before.get(s, 0) for s in set(after) | set(before)}
        changes["punch"] = _bump(record.punch, deltas)
    if e.birthday_bonus:
        days = _bonus_given(record.bonus_days, on.isoformat())
        changes["bonus_days"], changes["last_birthday_bonus"] = days, days[-1]
    return _save(book, record, e, gseq, transfers, spend=e.due_minor, **changes)


def _refund(book: Book, e: wire.Refund, gseq: int, occurred_us: int) -> Posted:
    _same_currency(book, e)
    record = _resolve(book, e.member_id, e.card)
    if record is None:
        if e.points_reversed or e.points_restored:
            raise EventInvalid(f"card {mask(e.card or '')} is unknown: points need a member")
        return Posted(spend_minor=-e.refund_minor)
    on = e.occurred_at.date()
    acc = member_account(record.member_id)
    transfers: list[Transfer] = []
    changes: dict[str, Any] = {"punch": _bump(record.punch, e.punch_delta)}
    taken = _take(record, e.points_reversed, on, transfers, changes, _lots(e.reversed_lots))
    if e.points_reversed:
        transfers.append(Transfer("reverse", acc, ISSUED, e.points_reversed, record.member_id))
    if e.points_restored:
        transfers.append(Transfer("restore", REDEEMED, acc, e.points_restored, record.member_id))
    changes["account"] = taken.restore(_lots(e.lots), on)  # as ``accounting.after_refund``
    returned = e.birthday_bonus_returned
    if returned is not None and returned.isoformat() in record.bonus_days:
        # That bonus may be earned again, unless another one of that day stands (two offline
        # tills each gave it) or a later one does.
        days = list(record.bonus_days)
        days.remove(returned.isoformat())
        changes["bonus_days"] = tuple(days)
        changes["last_birthday_bonus"] = days[-1] if days else None
    return _save(book, record, e, gseq, transfers, -e.refund_minor, **changes)


def _take(
    record: MemberRecord,
    points: int,
    on: date,
    transfers: list[Transfer],
    changes: dict[str, Any],
    prefer: Sequence[Lot] = (),
) -> Account:
    """``record.account.take(points, on, allow_debt=True, prefer=prefer)``, where the lots the
    expiry runs wrote off (``written_off``) count as the member's too: a sale dated before a run
    that reached the ledger after it spent points live on its day; a refund takes its sale's
    points that lapsed unused from the lapsed lot, written off or not. The points taken from
    written-off lots are booked back from ``program:expired`` first (an ``unexpire`` transfer
    added to ``transfers``) and leave ``written_off`` (in ``changes``).

    A terminal holds the written-off lots among its own (the pull sends them), so its ``take``
    picks the same points; here a lot of the member's own goes before a written-off one of the
    same earning day and expiry."""
    account, off = record.account, record.written_off
    if not off or points <= 0:
        return account.take(points, on, allow_debt=True, prefer=prefer)
    combined, spent = replace(account, lots=account.lots + off).spend(
        points, on, allow_debt=True, prefer=prefer
    )
    own, rest = points_by_dates(account.lots), points_by_dates(off)
    unexpired: dict[tuple[date, date | None], int] = {}
    for lot in spent:
        key = (lot.earned_at, lot.expires_at)
        mine = min(lot.points, own.get(key, 0))
        own[key] = own.get(key, 0) - mine
        rest[key] = rest.get(key, 0) - (lot.points - mine)
        if lot.points > mine:
            unexpired[key] = unexpired.get(key, 0) + lot.points - mine
    if unexpired:
        # One transfer for each written-off lot: each is dated at the run that wrote it off.
        acc = member_account(record.member_id)
        transfers.extend(
            Transfer("unexpire", EXPIRED, acc, n, record.member_id, key)
            for key, n in unexpired.items()
        )
        changes["written_off"] = tuple(Lot(n, *key) for key, n in rest.items() if n)
    return _compact(replace(combined, lots=tuple(Lot(n, *key) for key, n in own.items() if n)))


def _adjust(book: Book, e: wire.Adjust, gseq: int, occurred_us: int) -> Posted:
    record = _require_member(book, e.member_id)
    acc = member_account(record.member_id)
    if e.points > 0:
        transfer = Transfer("adjust_in", ADJUSTED, acc, e.points, record.member_id)
        account = record.account.earn(_lots(e.lots))
        return _save(book, record, e, gseq, [transfer], account=account)
    # A till's clawback dated before an expiry run and pushed after it may take written-off points.
    transfers: list[Transfer] = []
    changes: dict[str, Any] = {}
    account = _take(record, -e.points, e.occurred_at.date(), transfers, changes)
    transfers.append(Transfer("adjust_out", acc, ADJUSTED, -e.points, record.member_id))
    return _save(book, record, e, gseq, transfers, account=account, **changes)


def _card_link(book: Book, e: wire.CardLink, gseq: int, occurred_us: int) -> Posted:
    record = _require_member(book, e.member_id)
    row = book.card(e.card)
    if row is not None and row.member_id != record.member_id:
        raise EventInvalid(f"card {mask(e.card)} already belongs to member {row.member_id}")
    book.put_card(e.card, CardRow(record.member_id, "active"))
    cards = tuple(c for c in record.cards if c[0] != e.card) + ((e.card, "active"),)
    return _save(book, record, e, gseq, [], cards=cards)


def _card_block(book: Book, e: wire.CardBlock, gseq: int, occurred_us: int) -> Posted:
    record = _require_member(book, e.member_id)
    row = book.card(e.card)
    if row is None or row.member_id != record.member_id:
        raise EventInvalid(f"card {mask(e.card)} is not a card of member {record.member_id}")
    book.put_card(e.card, CardRow(record.member_id, "blocked"))
    cards = tuple((c, "blocked" if c == e.card else s) for c, s in record.cards)
    return _save(book, record, e, gseq, [], cards=cards)


def _expire(book: Book, e: wire.Expire, gseq: int, occurred_us: int) -> Posted:
    record = _require_member(book, e.member_id)
    lot = Lot(e.points, e.earned_at, e.expires_at)
    lots = list(record.account.lots)
    if lot not in lots:
        raise EventInvalid(f"member {e.member_id} has no such lot to expire")
    lots.remove(lot)
    account = replace(record.account, lots=tuple(lots))
    transfer = Transfer(
        "expire", member_account(record.member_id), EXPIRED, e.points, record.member_id
    )
    return _save(
        book, record, e, gseq, [transfer], account=account, written_off=_write_off(record, lot, e)
    )


#: How long the ledger keeps a written-off lot after the day it lapsed (``MemberRecord.
#: written_off``): for a till's sale dated before the run that pays with it and reaches the
#: ledger later (a till offline that long), and for a refund of the sale that earned it. Past
#: that, such a payment or refund takes those points from the member's other points.
WRITTEN_OFF_DAYS = 90


def _write_off(record: MemberRecord, lot: Lot, e: wire.Expire) -> tuple[Lot, ...]:
    """``record.written_off`` with ``lot`` added (one lot per earning day and expiry), less those
    that lapsed more than ``WRITTEN_OFF_DAYS`` before the run."""
    since = e.occurred_at.date() - timedelta(days=WRITTEN_OFF_DAYS)
    kept = (*record.written_off, lot)
    return merged(x for x in kept if x.expires_at is None or x.expires_at >= since)


def _status(status: str) -> Callable[[Book, Any, int, int], Posted]:
    def apply(book: Book, e: wire.Freeze | wire.Unfreeze, gseq: int, occurred_us: int) -> Posted:
        record = _require_member(book, e.member_id)
        if record.status == status:
            raise EventInvalid(f"member {e.member_id} is already {status}")
        return _save(book, record, e, gseq, [], status=status)

    return apply


def _program(book: Book, e: wire.ProgramSet, gseq: int, occurred_us: int) -> Posted:
    return Posted()


_HANDLERS: dict[str, Callable[[Book, Any, int, int], Posted]] = {
    "enroll": _enroll,
    "checkout": _checkout,
    "refund": _refund,
    "adjust": _adjust,
    "card_link": _card_link,
    "card_block": _card_block,
    "expire": _expire,
    "freeze": _status("frozen"),
    "unfreeze": _status("active"),
    "program": _program,
}
