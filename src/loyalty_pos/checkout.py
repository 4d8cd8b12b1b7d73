"""Application services: the use cases a cashier, a manager or a POS script triggers.

Each is a short function that takes the ``Terminal`` (store, config, clock) and runs in ONE SQLite
transaction: the state change, its journal event and its receipt are recorded together or not at
all. A refusal raises before anything is written, so the journal and the basket stay as they were.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from . import canonical
from .config import TerminalConfig, pin_matches, pin_problem
from .domain.accounting import (
    after_checkout,
    after_refund,
    apply_event,
    punch_after,
    spend_moment,
    tier_spend_minor,
)
from .domain.cards import mask_card, normal_card
from .domain.errors import AuthError, NotFound, RedeemRefused, Refused, StorageError
from .domain.events import (
    GENESIS_HASH,
    MAX_ENTRIES,
    MAX_ID,
    MAX_POINTS,
    MAX_TEXT,
    birthday_problem,
    email_problem,
    is_receipt_id,
    reason_problem,
    text_problem,
    verify_chain,
)
from .domain.events import receipt_id as new_receipt_id
from .domain.gtin import is_gtin14, is_product_barcode
from .domain.lots import Account, Lot, at_most, expiry_date, iso_day
from .domain.money import from_minor, parse_typed_amount, to_minor
from .domain.program import Program
from .domain.quote import (
    MAX,
    BasketLine,
    MemberState,
    OriginalSale,
    PunchCard,
    Quote,
    RedeemCap,
    RefundResult,
    cap_reason,
    fixed_limits,
    punch_cards,
    quote,
)
from .domain.quote import refund as compute_refund
from .domain.tiers import TierStatus, tier_status
from .domain.zones import YEARS
from .store import Store
from .store.db import MEMBER_COLUMNS_SAID, utc_iso

PIN_ATTEMPTS = 5
PIN_LOCKOUT = timedelta(minutes=15)
#: A free-amount line's SKU is this and its category.
OPEN_LINE = "OPEN:"


def _in_zone(when: datetime, tz: tzinfo | None) -> datetime:
    """``when`` in the zone ``tz`` (None: the machine's, looked up for this moment, DST and all);
    a time without an offset is a time of that zone."""
    if when.tzinfo is None:
        if tz is None:
            return when.astimezone()
        # Through UTC: astimezone to the zone it already has changes nothing, and 02:30 of
        # the night the clocks skip that hour would stay 02:30+01:00, which no clock showed.
        when = when.replace(tzinfo=tz).astimezone(UTC)
    return when.astimezone(tz)


def _within_years(at: datetime, local: datetime | None) -> None:
    """Refuse ``at`` (a typed ``--at``, ``local`` in the store's time, None past the calendar)
    unless it falls inside ``YEARS`` both in the store's time and in UTC, the two it is recorded
    in. Checked as typed only, a time of the years' edges with an offset was recorded in 1969
    or 3000 (``--at 1970-01-01T00:30+01:00`` at a till on UTC)."""
    utc = local.astimezone(UTC) if local is not None else None
    if local is not None and utc is not None and local.year in YEARS and utc.year in YEARS:
        return
    if local is None or utc is None:
        said = "past the calendar's ends in the store's time"
    elif local.year not in YEARS:
        said = f"{local:%Y-%m-%d %H:%M} in the store's time"
    else:
        said = f"{utc:%Y-%m-%d %H:%M} UTC"
    typed = at.isoformat(timespec="minutes" if at.second == at.microsecond == 0 else "auto")
    raise Refused(
        f"--at {typed!r} is {said}, outside {YEARS[0]} to {YEARS[-1]}: give a time inside "
        "those years."
    )


@dataclass
class Terminal:
    """Everything a use case needs: built once by ``bootstrap`` for the CLI, the app and scripts."""

    store: Store
    config: TerminalConfig
    home: Path
    #: In UTC: ``now`` puts it in store time, which is the one look-up of the machine's zone.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def program(self) -> Program:
        return self.store.program()

    def now(self, at: datetime | None = None) -> datetime:
        """``at`` (else the clock) in the store's time zone: ``timezone`` from the config, else
        the machine's. A moment typed with another offset is the same moment in store time, so
        promotion days, birthdays and expiry do not depend on how ``--at`` was written."""
        if at is None:
            return _in_zone(self.clock(), self.config.tz)
        try:
            local: datetime | None = _in_zone(at, self.config.tz)
        except (OverflowError, ValueError):  # past the calendar's ends in the store's zone
            local = None
        _within_years(at, local)
        assert local is not None
        return local

    def is_card(self, code: str) -> bool:
        """Whether ``code`` (in its normal form: a UID typed in lower case counts) is one of
        this terminal's card numbers (``terminal.card_pattern``)."""
        return re.fullmatch(self.config.card_pattern, self.card_form(code)) is not None

    def card_form(self, code: str) -> str:
        """``code`` as this terminal keeps its cards: ``normal_card``, or in capitals when
        only that form is a card number here (``lc00100037`` typed for the card LC00100037)."""
        card = normal_card(code)
        pattern = self.config.card_pattern
        if re.fullmatch(pattern, card) is None and re.fullmatch(pattern, card.upper()):
            return card.upper()
        return card


# -- reading state --------------------------------------------------------------------------


class MemberView(NamedTuple):
    """A member as the app and the CLI show them, as of ``now``. A named tuple rather than a
    frozen dataclass (as ``quote.QuoteLine``): every sale with a card makes one."""

    member_id: str
    name: str
    card: str
    status: str
    balance: int
    tier: TierStatus
    state: MemberState
    account: Account  # the cached lots and debt this view was computed from
    program: Program
    now: datetime  # the moment it is the member as of
    card_blocked: bool = False  # the card it was found by is blocked (reported lost)

    # What a screen, a receipt or ``balance`` shows besides, worked out when they read it (a
    # sale has no use for them).
    @property
    def expiring(self) -> tuple[Lot, ...]:
        """The live lots that expire, first to expire first."""
        return tuple(lot for lot in self.account.live_lots(self.now.date()) if lot.expires_at)

    @property
    def punch_cards(self) -> tuple[PunchCard, ...]:
        """The punch cards running now, as they stand."""
        return punch_cards(self.program, self.state.punch, self.now)


def find_member(
    t: Terminal, card: str, at: datetime | None = None, *, blocked_ok: bool = False
) -> MemberView:
    """The member holding ``card``; refuses an unknown card, and a blocked one unless
    ``blocked_ok`` (the lost card of a customer who reported the loss first, to be replaced)."""
    return _find_member(t, card, t.now(at), blocked_ok=blocked_ok)


def _find_member(t: Terminal, card: str, now: datetime, *, blocked_ok: bool = False) -> MemberView:
    """``find_member`` as of ``now``, a moment already in store time (``Terminal.now``): a use
    case reads the clock once and passes its moment on, rather than converting it again."""
    if not card.strip():
        raise Refused("No card number given.")
    _refuse_bad_text(card.strip(), MAX_ID, "The card number")
    row = card_row(t, card)
    if row is None:
        raise NotFound(
            f"Card {mask(card)} is not known here: enrol it, or sell without a card.",
            card=mask(card),
        )
    card = row["card"]  # as the store keeps it (``normal_card``)
    if row["card_status"] == "blocked" and not blocked_ok:
        raise Refused(
            f"Card {mask(card)} is blocked (reported lost); ask for the new card.", reason="blocked"
        )
    return _member_view(t, row["member_id"], card, now, row, row["card_status"] == "blocked")


def card_row(t: Terminal, card: str) -> sqlite3.Row | None:
    """``Store.card`` (the card and its member's row) of ``card`` as typed, else of its form
    here (``Terminal.card_form``)."""
    row = t.store.card(card)
    if row is None and (form := t.card_form(card)) != normal_card(card):
        row = t.store.card(form)
    return row


def _member_view(
    t: Terminal,
    member_id: str,
    card: str,
    now: datetime,
    row: sqlite3.Row | None = None,
    card_blocked: bool = False,
) -> MemberView:
    """``row`` is the member's row when the caller has just read it (``Store.card`` joins it)."""
    program = t.program
    if row is None:
        row = t.store.member(member_id)
    if row is None:
        raise NotFound(f"Member {member_id} is not known here.")
    account = t.store.account(member_id, row)
    window_start = now - timedelta(days=program.tier_window_days)
    spend = from_minor(t.store.tier_spend_minor(row, window_start, now), program.currency)
    status = tier_status(program, spend)
    state = MemberState(
        member_id=member_id,
        balance=account.balance(now.date()),
        tier=status.tier.name,
        qualifying_spend=spend,
        punch=t.store.punch(row),
        birthday=_date(row["birthday"]),
        last_birthday_bonus=_date(row["last_birthday_bonus"]),
        status=row["status"],
    )
    return MemberView(
        member_id,
        row["name"],
        card,
        row["status"],
        state.balance,
        status,
        state,
        account,
        program,
        now,
        card_blocked,
    )


def _refuse_back_dated(t: Terminal, member_id: str, now: datetime) -> None:
    """Refused when ``now`` (an operation's ``--at``) is before the member's last event here:
    the cache holds the member as of that event, so a sale there would spend points earned
    after it (QA: a sale dated a week back paid 2,900 points earned later), and a balance
    there would count them. The clock's own moment is never refused: a clock set back a
    little (NTP) must not stop the till."""
    last = t.store.last_event_at(member_id)
    if last and utc_iso(now) < last:
        shown_last = datetime.fromisoformat(last).astimezone(now.tzinfo)
        raise Refused(
            f"--at {now:%Y-%m-%d %H:%M} is before this member's last event here "
            f"({shown_last:%Y-%m-%d %H:%M}): the till holds the member as of then. Events "
            "are recorded in time order: give a later --at.",
            reason="back_dated",
        )


def _refuse_bad_text(value: str, limit: int, what: str) -> None:
    """Refused when ``value`` is longer than the ledger takes (``domain.events`` limits)."""
    if problem := text_problem(value, limit, what):
        raise Refused(problem + ".")


def unreadable_card(t: Terminal, card: str) -> str | None:
    """Why a scan of ``card`` at this terminal would not find the card, or None: the scanner
    takes a receipt id first, then a catalog item, and only then a code matching
    ``card_pattern``."""
    if is_receipt_id(card):
        return f"{card} is a receipt id, not a card"
    if t.store.item(card) is not None:
        return f"{card} is an item in the catalog, not a card"
    if not t.is_card(card):
        # The cashier's next step first; the setting after it is for the store's IT person.
        return (
            f"{shown(card)} is not a card number this terminal can read: check the number, or "
            "scan the card (the card numbers it takes are set by card_pattern in terminal.toml)"
        )
    return None


def product_barcode(t: Terminal, code: str, symbology: str | None = None) -> str | None:
    """A sentence when ``code`` is a product's barcode and no card enrolled here, else None: a
    GTIN the scanner announced as EAN/UPC, ITF or GS1 DataBar (``symbology``, its AIM
    identifier), or a 14-digit code with a GTIN check digit (an ITF-14 read without one). A card
    enrolled here is a card whatever its digits (a store's own in-store EAN-13 cards, a UID of
    14 digits whose last one happens to fit). The one rule for the item field and the card
    fields; a code that is no GTIN costs no query."""
    code = code.strip()
    if not (is_product_barcode(code, symbology) or is_gtin14(code)):
        return None
    if card_row(t, code) is not None:
        return None
    return f"{shown(code)} is a product's barcode (GTIN), not a member card."


def _refuse_unreadable_card(t: Terminal, card: str) -> None:
    if problem := unreadable_card(t, card):
        raise Refused(problem + ".")


def _date(text: str | None) -> Any:
    return date.fromisoformat(text) if text else None


def shown(code: str, limit: int = 32) -> str:
    """``code`` quoted for a message: whole when short, else its start and its length, so that
    a scanner's runaway or a pasted page does not fill the cashier's screen."""
    if len(code) <= limit:
        return repr(code)
    return f"{code[:limit]!r}... ({len(code)} characters)"


def mask(card: str | None) -> str:
    return mask_card(card) if card else ""


#: How far a clock may step back (an NTP correction) without a sync just before counting as
#: one from the future.
CLOCK_STEP = timedelta(minutes=1)


def is_online(t: Terminal, now: datetime) -> bool:
    """Online = the last successful sync is within the program's grace; a standalone terminal
    (no ledger configured) is its own system of record and always online.

    A last sync stamped later than ``now`` (beyond a minute's step of the clock) is not one: the
    clock ran ahead at that sync and was set right since, and the ledger may have been out of
    reach for all of the time in between (QA: a till 72 hours ahead, then corrected, sold
    without the offline cap with the ledger down)."""
    if not t.config.ledger.configured:
        return True
    last = t.store.meta("last_sync_at")
    if not last:
        return False
    grace = timedelta(minutes=t.program.offline.grace_minutes)
    return -CLOCK_STEP <= now - datetime.fromisoformat(last) <= grace


def offline_cap(t: Terminal, member_id: str, now: datetime) -> int | None:
    """Points this member may still redeem today at this terminal while offline (None online)."""
    if is_online(t, now):
        return None
    limit = t.program.offline.max_redeem_points_per_member_per_day
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = t.store.redeemed_offline_between(member_id, start, start + timedelta(days=1))
    return max(limit - used, 0)


# -- the basket -----------------------------------------------------------------------------


def resolve_items(
    t: Terminal, items: Sequence[tuple[str, int]], open_lines: Sequence[tuple[str, str]] = ()
) -> list[BasketLine]:
    """Basket lines from scanned codes (SKU or EAN) with quantities, and free-amount lines."""
    currency = t.program.currency
    lines: list[BasketLine] = []
    for code, qty in items:
        row = t.store.item(code)
        if row is None:
            raise NotFound(f"No item with code {shown(code)} in the catalog.", code=code)
        lines.append(
            BasketLine(
                row["sku"],
                row["name"],
                qty,
                from_minor(row["price_minor"], currency),
                row["category"],
            )
        )
    for amount, category in open_lines:
        # as typed at the till (F7): a decimal comma is a point, 1,000 / 1.000 are refused
        price = parse_typed_amount(amount, currency)
        if not category:
            raise Refused("a free-amount line needs a category")
        _refuse_bad_text(category, MAX_ID - len(OPEN_LINE), "The category")
        category = _known_category(t, category)
        lines.append(
            BasketLine(f"{OPEN_LINE}{category}", category.capitalize(), 1, price, category)
        )
    return lines


def _known_category(t: Terminal, category: str) -> str:
    """The store's own spelling of ``category`` (any case); a new category as typed; refused
    when it is one letter or two off a category the store knows: a typo of ``tobacco`` would
    earn points the program excludes, one of ``books`` would miss its promotion."""
    known = store_categories(t)
    for k in known:
        if k.casefold() == category.casefold():
            return k
    near = difflib.get_close_matches(category.casefold(), [k.casefold() for k in known], 1, 0.8)
    if near:
        meant = next(k for k in known if k.casefold() == near[0])
        raise Refused(
            f"Category {category!r} is not one of this store's: did you mean {meant!r}? "
            "(A new category is taken as typed only when it is not that close to one.)"
        )
    return category


def store_categories(t: Terminal) -> list[str]:
    """The categories a free-amount line may take: the catalog's and those the program names
    (its excluded categories, its promotions'), sorted."""
    program = t.program
    named = set(program.earn.excluded_categories)
    named |= {p.category for p in program.promotions if p.category}
    rows = t.store.query("SELECT DISTINCT category FROM catalog")
    return sorted(named | {r["category"] for r in rows})


def distinct_open_lines(lines: Sequence[BasketLine]) -> list[BasketLine]:
    """The basket with each free-amount line under its own SKU: a second grocery amount is
    ``OPEN:grocery#2``. A refund names lines by SKU, so two amounts of one category must differ
    there, or a refund could not tell the 30.00 line from the 20.00 one."""
    seen: dict[str, int] = {}
    out = []
    for line in lines:
        if line.sku.startswith(OPEN_LINE):
            n = seen[line.sku] = seen.get(line.sku, 0) + 1
            if n > 1:
                suffix = f"#{n}"
                line = replace(line, sku=line.sku[: MAX_ID - len(suffix)] + suffix)
        out.append(line)
    return out


def price_basket(
    t: Terminal,
    card: str | None,
    lines: Sequence[BasketLine],
    redeem: int | str | None,
    at: datetime | None = None,
    *,
    show_frozen: bool = False,
) -> tuple[Quote, MemberView | None]:
    """The quote for a basket without recording anything (the app's live totals).

    ``show_frozen``: a frozen member is returned (to be shown as frozen) with the basket priced
    as a sale without the card and no points payment possible (cap ``frozen``), rather than
    refused; a points payment asked for is still refused, naming the freeze. A sale
    (``checkout``) never takes this: a frozen member's card cannot be sold to."""
    return _price_basket(t, card, lines, redeem, t.now(at), show_frozen=show_frozen)


def _price_basket(
    t: Terminal,
    card: str | None,
    lines: Sequence[BasketLine],
    redeem: int | str | None,
    now: datetime,
    *,
    show_frozen: bool = False,
) -> tuple[Quote, MemberView | None]:
    """``price_basket`` as of ``now``, a moment already in store time (``Terminal.now``)."""
    # None is a sale without a card; an empty card is a slip (a script's empty variable).
    member = _find_member(t, card, now) if card is not None else None
    if show_frozen and member is not None and member.status == "frozen":
        if redeem not in (None, 0):
            raise RedeemRefused("This member is frozen: points cannot be paid.", limit="frozen")
        q = quote(t.program, lines, None, now)
        return q._replace(limits=fixed_limits(RedeemCap(0, Decimal(0), "frozen"))), member
    cap = offline_cap(t, member.member_id, now) if member else None
    q = quote(t.program, lines, member.state if member else None, now, redeem, cap)
    return q, member


# -- use cases ------------------------------------------------------------------------------


def checkout(
    t: Terminal,
    card: str | None,
    lines: Sequence[BasketLine],
    redeem: int | str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Record one sale: points earned and paid, journal event and receipt, in one transaction."""
    if not lines:
        raise Refused("The basket is empty.")
    lines = distinct_open_lines(lines)
    now = t.now(at)
    with t.store.transaction():
        program = t.program
        q, member = _price_basket(t, card, lines, redeem, now)
        if at is not None and member:
            _refuse_back_dated(t, member.member_id, now)
        head = t.store.head()
        seq = head[0] + 1
        receipt_id = new_receipt_id(t.config.terminal_id, seq)
        cur = program.currency
        # The lots the points payment comes from, with their dates: a refund gives them back so.
        spent = (
            member.account.spend(q.points_redeemed, now.date(), allow_debt=True)[1]
            if member and q.points_redeemed
            else ()
        )
        event = {
            "type": "checkout",
            "occurred_at": now.isoformat(),
            "program_version": program.version,
            "member_id": member.member_id if member else None,
            "card": member.card if member else None,
            "receipt_id": receipt_id,
            "currency": cur,
            "total_minor": to_minor(q.total, cur),
            "discount_minor": to_minor(q.discount, cur),
            "points_value_minor": to_minor(q.points_value, cur),
            "due_minor": to_minor(q.due, cur),
            "points_earned": q.points_earned,
            "points_redeemed": q.points_redeemed,
            "lines": [
                {
                    "sku": ql.line.sku,
                    "name": ql.line.name,
                    "qty": ql.line.qty,
                    "unit_price_minor": to_minor(ql.line.unit_price, cur),
                    "category": ql.line.category,
                    "free_units": ql.free_units,
                }
                for ql in q.lines
            ],
            "breakdown": [
                {"rule": b.rule, "points": b.points, "label": b.label} for b in q.breakdown
            ],
            "lots": [lot.to_json() for lot in q.lots],
            "spent": [lot.to_json() for lot in at_most(spent, MAX_ENTRIES)],
            "tier": q.tier_before,
            "punch_before": dict(member.state.punch) if member else {},
            "punch_after": dict(q.punch_after) if member else {},
            "birthday_bonus": q.birthday_awarded,
            "offline": not is_online(t, now),
        }
        after: dict[str, Any] = {}
        if member:
            # ``apply_event`` of this event, from the values written into it.
            account = after_checkout(member.account, now.date(), q.points_redeemed, q.lots)
            cards = _receipt_punch_cards(
                program, q.punch_after, now, (ql.line.sku for ql in q.lines), sale=True
            )
            after = _after(account, q.tier_after, now, cards)
        sealed = t.store.append(t.config.terminal_id, event, head=head, receipt=after)
        if member:
            t.store.save_account(member.member_id, account, before=member.account)
            if dict(q.punch_after) != dict(member.state.punch) or q.birthday_awarded:
                t.store.conn.execute(
                    "UPDATE members SET punch = ?, "
                    "last_birthday_bonus = COALESCE(?, last_birthday_bonus) WHERE member_id = ?",
                    (
                        canonical.dumps(q.punch_after),
                        now.date().isoformat() if q.birthday_awarded else None,
                        member.member_id,
                    ),
                )
    return _checkout_result(program, sealed, q, member, after, redeem)


def _after(
    account: Account,
    tier: TierStatus | None,
    now: datetime,
    cards: Sequence[PunchCard] = (),
) -> dict[str, Any]:
    """The member as a receipt shows them after its sale or refund; ``cards``: the punch cards
    the receipt shows (``_receipt_punch_cards``)."""
    nxt = account.next_expiring(now.date())
    return {
        "balance": account.balance(now.date()),
        "tier": tier.tier.name if tier else None,
        "next_tier": tier.next_tier.name if tier and tier.next_tier else None,
        "spend_to_next_tier": str(tier.spend_to_next)
        if tier and tier.spend_to_next is not None
        else None,
        "next_expiring": {"points": nxt.points, "expires_at": iso_day(nxt.expires_at)}
        if nxt and nxt.expires_at
        else None,
        "punch_cards": [punch_card_json(card) for card in cards],
    }


def _receipt_punch_cards(
    program: Program, punch: Mapping[str, int], now: datetime, skus: Iterable[str], *, sale: bool
) -> tuple[PunchCard, ...]:
    """The punch cards a receipt shows, as the sale or refund leaves them: those of the items
    on it, and on a sale also every card with punches on it (a mascara's receipt need not
    advertise an empty coffee card)."""
    on_receipt = set(skus)
    return tuple(
        card
        for card in punch_cards(program, punch, now)
        if card.sku in on_receipt or (sale and card.punches != 0)
    )


def _checkout_result(
    program: Program,
    event: Mapping[str, Any],
    q: Quote,
    member: MemberView | None,
    after: Mapping[str, Any],
    redeem: int | str | None = None,
) -> dict[str, Any]:
    return {
        "receipt_id": event["receipt_id"],
        "member_id": member.member_id if member else None,
        "total": str(q.total),
        "discount": str(q.discount),
        "points_redeemed": q.points_redeemed,
        "points_value": str(q.points_value),
        "due": str(q.due),
        "points_earned": q.points_earned,
        "breakdown": [{"rule": b.rule, "points": b.points} for b in q.breakdown],
        "balance": after.get("balance"),
        "tier": after.get("tier"),
        "next_tier": after.get("next_tier"),
        "spend_to_next_tier": after.get("spend_to_next_tier"),
        # The receipt's punch cards, as the sale leaves them (``_receipt_punch_cards``), in
        # ``balance``'s shape: already computed for the receipt, so no query of their own.
        "punch_cards": list(after.get("punch_cards") or ()),
        "offline": event["offline"],
        # With "max", what capped the points payment, so that 0 points paid is not a mystery.
        **(
            {"points_limit": cap_reason(q.cap, program)}
            if redeem == MAX and member is not None
            else {}
        ),
    }


def check_manager_pin(t: Terminal, pin: str | None) -> None:
    """Refuse unless ``pin`` is the manager PIN; 5 wrong PINs lock manager actions for 15 minutes.
    No PIN at all (None, empty) is refused without counting as a wrong one.

    The lockout runs on the terminal's clock, never on an operation's ``--at``: a time given
    there would otherwise lock manager actions for years, or give five more tries each time it
    moves past the lock."""
    now = t.now()
    if not t.config.pin_hash:
        raise AuthError(
            "No manager PIN is set on this terminal: set one with `loyalty-pos pin set`."
        )
    _refuse_locked(t, now)
    if not pin:  # forgotten, not wrong: no try is used up
        raise AuthError("This needs the manager PIN (--manager-pin).", reason="missing_pin")
    # The lock, the check and the count in one write transaction: PINs tried at the same time
    # (commands run in parallel) are checked one after the other, so the sixth finds the lock
    # (QA: 30 parallel tries had 29 checked, and the right one among them went through).
    with t.store.transaction():
        _refuse_locked(t, now)
        if pin_matches(pin, t.config.pin_hash):
            t.store.set_meta("pin_failures", "0")
            return
        if pin_problem(pin):
            # No PIN could be this (letters, or more digits than a PIN has): a receipt or a
            # card scanned into the PIN field, not a guess, so no try is used up. A PIN set by
            # an older release in another form was matched above.
            raise AuthError(
                "That is not a manager PIN (4 to 12 digits; a scanned code, perhaps): "
                "no try used up. Type the PIN.",
                reason="not_a_pin",
            )
        failures = int(t.store.meta("pin_failures", "0") or 0) + 1
        t.store.set_meta("pin_failures", str(failures))
        if failures >= PIN_ATTEMPTS:
            t.store.set_meta("pin_locked_until", (now + PIN_LOCKOUT).isoformat())
            t.store.set_meta("pin_failures", "0")
    left = PIN_ATTEMPTS - failures
    raise AuthError(
        "Wrong manager PIN."
        + (
            f" {left} {'try' if left == 1 else 'tries'} left."
            if failures < PIN_ATTEMPTS
            else " Manager actions are locked for 15 minutes."
        ),
        reason="wrong_pin",
    )


def _refuse_locked(t: Terminal, now: datetime) -> None:
    locked_until = t.store.meta("pin_locked_until")
    if locked_until and now < datetime.fromisoformat(locked_until):
        until = datetime.fromisoformat(locked_until).astimezone(now.tzinfo)
        if until.second or until.microsecond:  # the first whole minute it is taken again:
            # "until 14:15" of a lock ending at 14:15:41 was read at 14:15 and refused (QA)
            until = until.replace(second=0, microsecond=0) + timedelta(minutes=1)
        raise AuthError(
            f"Manager actions are locked after {PIN_ATTEMPTS} wrong PINs until "
            f"{until:%H:%M}{'' if until.date() == now.date() else f' on {until:%Y-%m-%d}'}.",
            reason="locked",
        )


def refund(
    t: Terminal,
    receipt_id: str,
    items: Mapping[str, int] | None,
    pin: str | None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Refund units of a receipt (all when ``items`` is None), recomputing its points."""
    check_manager_pin(t, pin)
    now = t.now(at)
    with t.store.transaction():
        original, program, result = _refund_of(t, receipt_id, items)
        receipt_id = original["receipt_id"]
        sold_at = datetime.fromisoformat(original["occurred_at"])
        if now < sold_at:
            sold = sold_at.astimezone(now.tzinfo)
            raise Refused(
                f"Receipt {receipt_id} was sold on {sold:%Y-%m-%d at %H:%M}: a refund cannot "
                f"come before its sale (this one is dated {now:%Y-%m-%d %H:%M})."
            )
        cur = program.currency
        member_id = original["member_id"]
        if at is not None and member_id:
            _refuse_back_dated(t, member_id, now)
        restored = _restored_lots(result, program, now)
        head = t.store.head()
        seq = head[0] + 1
        event = {
            "type": "refund",
            "occurred_at": now.isoformat(),
            "program_version": program.version,
            "member_id": member_id,
            "card": original.get("card"),
            "receipt_id": new_receipt_id(t.config.terminal_id, seq),
            "original_receipt_id": receipt_id,
            "currency": cur,
            "lines": [{"sku": s, "qty": q} for s, q in result.returned.items()],
            "refund_minor": to_minor(result.money_refunded, cur),
            "points_reversed": result.points_reversed if member_id else 0,
            "points_restored": result.points_restored if member_id else 0,
            "lots": [lot.to_json() for lot in restored if lot.points and member_id],
            "reversed_lots": [lot.to_json() for lot in result.reversed_lots if member_id],
            "punch_delta": dict(result.punch_delta),
        }
        if member_id and result.fully_refunded and original.get("birthday_bonus"):
            # Everything came back, the birthday bonus with it: the member may earn this year's
            # bonus again (on the sale that replaces this one, say).
            event["birthday_bonus_returned"] = original["occurred_at"][:10]
        after: dict[str, Any] = {}
        if member_id:
            # The member as the refund leaves them: its lots, and its money out of the tier
            # spend if its sale is still in the window (it counts at the sale's moment).
            view = _member_view(t, member_id, original.get("card") or "", now)
            account = apply_event(view.account, event)
            spend = view.state.qualifying_spend
            if spend_moment(now, sold_at) > now - timedelta(days=t.program.tier_window_days):
                spend += from_minor(tier_spend_minor(event), cur)
            punch = punch_after(view.state.punch, event)
            cards = _receipt_punch_cards(t.program, punch, now, result.punch_delta, sale=False)
            after = _after(account, tier_status(t.program, spend), now, cards)
        sealed = t.store.append(t.config.terminal_id, event, head=head, receipt=after)
        if member_id:
            t.store.save_account(member_id, account)
            row = t.store.member(member_id)
            punch = t.store.punch(row) if row else {}
            for sku, delta in result.punch_delta.items():
                punch[sku] = punch.get(sku, 0) + delta  # below 0: punches a free unit used
            t.store.conn.execute(
                "UPDATE members SET punch = ? WHERE member_id = ?",
                (canonical.dumps(punch), member_id),
            )
            if returned_bonus := event.get("birthday_bonus_returned"):
                t.store.conn.execute(
                    "UPDATE members SET last_birthday_bonus = NULL "
                    "WHERE member_id = ? AND last_birthday_bonus = ?",
                    (member_id, returned_bonus),
                )
    return {
        "receipt_id": sealed["receipt_id"],
        "original_receipt_id": receipt_id,
        "member_id": member_id,
        "refunded": str(result.money_refunded),
        "points_reversed": sealed["points_reversed"],
        "points_restored": sealed["points_restored"],
        "balance": after.get("balance"),
        "fully_refunded": result.fully_refunded,
    }


def _restored_lots(result: RefundResult, program: Program, now: datetime) -> list[Lot]:
    """The lots a refund on ``now`` gives its points back in: those its sale spent them from,
    and for a sale recorded before sales named the lots they spent, a new lot, as then. The
    refund and its preview both take them from here, so the balance the preview announces is
    the one the refund leaves."""
    restored = list(result.restored_lots)
    if (unnamed := result.points_restored - sum(lot.points for lot in restored)) > 0:
        restored.append(Lot(unnamed, now.date(), expiry_date(now, program.expiry_days)))
    return restored


def _original_sale(program: Program, event: Mapping[str, Any]) -> OriginalSale:
    cur = program.currency
    occurred = datetime.fromisoformat(event["occurred_at"])
    member = None
    if event.get("member_id"):
        member = MemberState(
            member_id=event["member_id"],
            balance=0,
            tier=event.get("tier") or program.tiers[0].name,
            qualifying_spend=Decimal(0),
            punch=event.get("punch_before") or {},
            birthday=occurred.date() if event.get("birthday_bonus") else None,
        )
    return OriginalSale(
        lines=tuple(
            BasketLine(
                line["sku"],
                line["name"],
                line["qty"],
                from_minor(line["unit_price_minor"], cur),
                line["category"],
            )
            for line in event["lines"]
        ),
        member=member,
        now=occurred,
        total=from_minor(event["total_minor"], cur),
        points_value=from_minor(event["points_value_minor"], cur),
        points_redeemed=event["points_redeemed"],
        points_earned=event["points_earned"],
        lots=tuple(Lot.from_json(lot) for lot in event.get("lots") or []),
        spent=tuple(Lot.from_json(lot) for lot in event["spent"]) if "spent" in event else None,
    )


def balance(t: Terminal, card: str, at: datetime | None = None) -> dict[str, Any]:
    now = t.now(at)
    m = _find_member(t, card, now)
    if at is not None:
        _refuse_back_dated(t, m.member_id, now)
    return {
        "member_id": m.member_id,
        "name": m.name,
        "card": mask(m.card),
        "balance": m.balance,
        "tier": m.tier.tier.name,
        "next_tier": m.tier.next_tier.name if m.tier.next_tier else None,
        "spend_to_next_tier": str(m.tier.spend_to_next)
        if m.tier.spend_to_next is not None
        else None,
        "expiring": [
            {"points": lot.points, "expires_at": lot.expires_at.isoformat()}
            for lot in m.expiring
            if lot.expires_at
        ],
        "status": m.status,
        "punch_cards": [punch_card_json(card) for card in m.punch_cards],
        # Events waiting for the ledger; a standalone till (no ledger) has none to send.
        "pending_sync": t.store.outbox_count() if t.config.ledger.configured else 0,
    }


def punch_card_json(card: PunchCard) -> dict[str, Any]:
    """A punch card as ``balance`` answers it and a receipt's after-state keeps it."""
    return {
        "promotion": card.promotion,
        "name": card.name,
        "sku": card.sku,
        "every": card.every,
        "punches": card.punches,
        "to_free": card.to_free,
        "progress": card.progress,
    }


def _new_member_id(t: Terminal, seq: int) -> str:
    """``{terminal_id}-M{seq:06d}``, unique without asking anyone; when a members file brought
    that id already (a rebuilt till given its old list), the first free ``-2``, ``-3``, ..."""
    member_id = candidate = f"{t.config.terminal_id}-M{seq:06d}"
    n = 1
    while t.store.member(candidate) is not None:
        n += 1
        candidate = f"{member_id}-{n}"
    return candidate


def enrolment_email_problem(email: str) -> str | None:
    """The sentence an enrolment refuses ``email`` with, or None (none given is fine): the
    checkout app's F4 says it at the email's Enter, `loyalty-pos enroll` and the members file
    refuse on the same rule (``domain.events.email_problem``)."""
    email = email.strip()
    # Its length first: a pasted page was said whole, twice, filling F4's window (QA).
    problem = email and (text_problem(email, MAX_TEXT, "the email address") or email_problem(email))
    if problem:
        return f"{problem[0].upper()}{problem[1:]}."
    return None


def enrolment_text_problem(value: str, what: str) -> str | None:
    """The sentence an enrolment refuses a name or phone with (``what``: "The name"), or None:
    the checkout app's F4 says it at the field's Enter, as ``enroll`` refuses it."""
    problem = text_problem(value.strip(), MAX_TEXT, what)
    return problem + "." if problem else None


def enroll(
    t: Terminal,
    card: str,
    name: str = "",
    email: str = "",
    phone: str = "",
    birthday: str = "",
    at: datetime | None = None,
) -> dict[str, Any]:
    """Enrol a new member on the spot: a card is all it takes (a name, email, phone or
    birthday if the customer gives them)."""
    now = t.now(at)
    card = t.card_form(card)
    if not card:
        raise Refused("A card number is needed to enrol.")
    _refuse_bad_text(card, MAX_ID, "The card number")
    _refuse_unreadable_card(t, card)
    _refuse_bad_text(name.strip(), MAX_TEXT, "The name")
    _refuse_bad_text(email.strip(), MAX_TEXT, "The email address")
    _refuse_bad_text(phone.strip(), MAX_TEXT, "The phone number")
    if problem := enrolment_email_problem(email):
        raise Refused(problem)
    if birthday and (problem := birthday_problem(birthday, now.date())):
        raise Refused(problem + ".")
    provisional = t.config.ledger.configured
    with t.store.transaction():
        _refuse_card_in_use(t, card)
        seq = t.store.head()[0] + 1
        member_id = _new_member_id(t, seq)
        status = "provisional" if provisional else "active"
        t.store.conn.execute(
            "INSERT INTO members (member_id, name, email, phone, birthday, status) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (member_id, name.strip(), email.strip(), phone.strip(), birthday or None, status),
        )
        t.store.conn.execute("INSERT INTO cards (card, member_id) VALUES (?, ?)", (card, member_id))
        t.store.append(
            t.config.terminal_id,
            {
                "type": "enroll",
                "occurred_at": now.isoformat(),
                "program_version": t.program.version,
                "member_id": member_id,
                "card": card,
                "name": name.strip(),
                "email": email.strip(),
                "phone": phone.strip(),
                "birthday": birthday or None,
                "provisional": provisional,
            },
        )
    return {"member_id": member_id, "card": mask(card), "status": status}


def adjust(
    t: Terminal, card: str, points: int, reason: str, pin: str | None, at: datetime | None = None
) -> dict[str, Any]:
    """A manager's correction (positive) or clawback (negative), with a reason on the record."""
    if problem := reason_problem(reason):  # a zero-width space alone says nothing
        raise Refused(f"{problem[0].upper()}{problem[1:]}.")
    if points == 0:
        raise Refused("An adjustment of 0 points changes nothing.")
    if abs(points) > MAX_POINTS:
        raise Refused(f"An adjustment moves at most {MAX_POINTS:,} points (asked {points:,}).")
    check_manager_pin(t, pin)
    now = t.now(at)
    program = t.program
    with t.store.transaction():
        m = _find_member(t, card, now)
        if at is not None:
            _refuse_back_dated(t, m.member_id, now)
        lots = (
            [Lot(points, now.date(), expiry_date(now, program.expiry_days))] if points > 0 else []
        )
        sealed = t.store.append(
            t.config.terminal_id,
            {
                "type": "adjust",
                "occurred_at": now.isoformat(),
                "program_version": program.version,
                "member_id": m.member_id,
                "card": card,
                "points": points,
                "reason": reason.strip(),
                "lots": [lot.to_json() for lot in lots],
            },
        )
        account = apply_event(m.account, sealed)
        t.store.save_account(m.member_id, account, before=m.account)
    return {"member_id": m.member_id, "points": points, "balance": account.balance(now.date())}


def _card_event(t: Terminal, kind: str, member_id: str, card: str, now: datetime) -> None:
    t.store.append(
        t.config.terminal_id,
        {
            "type": kind,
            "occurred_at": now.isoformat(),
            "program_version": t.program.version,
            "member_id": member_id,
            "card": card,
        },
    )


def _refuse_card_in_use(t: Terminal, card: str) -> None:
    """Refused when ``card`` is already someone's (``card_in_use``)."""
    if said := card_in_use(t, card):
        raise Refused(said, reason="card_in_use")


def new_card_problem(t: Terminal, card: str) -> str | None:
    """Why ``card`` cannot be given to a member (``enroll``, a card link), or None: it is no
    card number here, or it is someone's already. The app's enrolment asks at the card's
    Enter, before the customer's details are typed (QA)."""
    if problem := unreadable_card(t, card):
        return problem + "."
    return card_in_use(t, card)


def card_in_use(t: Terminal, card: str) -> str | None:
    """A sentence when ``card`` is already someone's, naming them, so that the cashier can tell
    the customer's own card, enrolled before, from a card handed out twice; else None."""
    row = card_row(t, card)
    if row is None:
        return None
    who = f"{row['name']} ({row['member_id']})" if row["name"] else f"member {row['member_id']}"
    lost = ", blocked as lost" if row["card_status"] == "blocked" else ""
    return f"Card {mask(row['card'])} already belongs to {who}{lost}."


def blocked_already(row: sqlite3.Row | None) -> str | None:
    """A sentence when the card of ``row`` (``Store.card``'s) is blocked already: there is
    nothing to block, and the member's new card is a replacement (a card link)."""
    if row is None or row["card_status"] != "blocked":
        return None
    return f"Card {mask(row['card'])} is blocked already (reported lost): nothing to block."


def _block(t: Terminal, card: str, now: datetime) -> str:
    """Block ``card`` inside the caller's transaction; returns its member id."""
    row = card_row(t, card)
    if row is None:
        raise NotFound(f"Card {mask(card)} is not known here.")
    card = row["card"]
    if said := blocked_already(row):
        raise Refused(said)
    t.store.conn.execute("UPDATE cards SET status = 'blocked' WHERE card = ?", (card,))
    _card_event(t, "card_block", row["member_id"], card, now)
    return str(row["member_id"])


def _link(t: Terminal, new_card: str, member_id: str, now: datetime) -> None:
    """Give ``member_id`` the card ``new_card`` inside the caller's transaction."""
    if not new_card:
        raise Refused("Give the new card's number.")
    _refuse_bad_text(new_card, MAX_ID, "The new card's number")
    _refuse_unreadable_card(t, new_card)
    if t.store.member(member_id) is None:
        raise NotFound(f"Member {member_id} is not known here.")
    _refuse_card_in_use(t, new_card)
    t.store.conn.execute("INSERT INTO cards (card, member_id) VALUES (?, ?)", (new_card, member_id))
    _card_event(t, "card_link", member_id, new_card, now)


def block_card(
    t: Terminal, card: str, pin: str | None, at: datetime | None = None
) -> dict[str, Any]:
    """Block a lost card: it can no longer earn or pay; the member's points stay theirs."""
    if not card.strip():
        raise Refused("No card number given.")
    check_manager_pin(t, pin)
    with t.store.transaction():
        member_id = _block(t, card.strip(), t.now(at))
    return {"member_id": member_id, "card": mask(normal_card(card)), "status": "blocked"}


def link_card(
    t: Terminal, new_card: str, member_id: str, pin: str | None, at: datetime | None = None
) -> dict[str, Any]:
    """Give a member a new card (a lost card replaced): balance and history follow the member."""
    check_manager_pin(t, pin)
    new_card = t.card_form(new_card)
    with t.store.transaction():
        _link(t, new_card, member_id, t.now(at))
    return {
        "member_id": member_id,
        "card": mask(new_card),
        "cards": len(t.store.cards_of(member_id)),
    }


def replace_lost_card(
    t: Terminal, old_card: str, new_card: str, pin: str | None, at: datetime | None = None
) -> dict[str, Any]:
    """The lost-card counter case in one transaction: the holder of ``old_card`` gets
    ``new_card`` and the old card is blocked (unless it already was)."""
    old_card, new_card = t.card_form(old_card), t.card_form(new_card)
    if not old_card or not new_card:
        raise Refused("Give the lost card and the new card.")
    check_manager_pin(t, pin)
    now = t.now(at)
    with t.store.transaction():
        row = t.store.card(old_card)
        if row is None:
            raise NotFound(f"Card {mask(old_card)} is not known here.")
        _link(t, new_card, row["member_id"], now)
        if row["card_status"] != "blocked":
            _block(t, old_card, now)
    return {
        "member_id": row["member_id"],
        "card": mask(new_card),
        "blocked": mask(old_card),
        "cards": len(t.store.cards_of(row["member_id"])),
    }


@dataclass(frozen=True, slots=True)
class RefundableLine:
    """One SKU of a sale: how many were sold and how many can still come back."""

    sku: str
    name: str
    sold: int
    left: int
    unit_price: Decimal


def _refund_of(
    t: Terminal, receipt_id: str, items: Mapping[str, int] | None
) -> tuple[dict[str, Any], Program, RefundResult]:
    """The sale, its program version and what refunding ``items`` of it (None: all that is
    left) gives back and takes back, as of the refunds recorded so far. Records nothing."""
    original = _sale(t, receipt_id)
    receipt_id = original["receipt_id"]  # as printed, whatever the case it was typed in
    program = t.store.program_version(original["program_version"])
    cur = program.currency
    previous = _returned(t, receipt_id)
    sale = _original_sale(program, original)
    if items is None:
        sold: dict[str, int] = {}
        for line in sale.lines:
            sold[line.sku] = sold.get(line.sku, 0) + line.qty
        items = {s: q - previous.get(s, 0) for s, q in sold.items() if q - previous.get(s, 0) > 0}
    refunds = t.store.refunds_of(receipt_id)
    reversed_before = sum(int(r.get("points_reversed") or 0) for r in refunds)
    reversed_lots = [Lot.from_json(lot) for r in refunds for lot in r.get("reversed_lots") or []]
    refunded_before = from_minor(sum(int(r.get("refund_minor") or 0) for r in refunds), cur)
    restored_before = sum(int(r.get("points_restored") or 0) for r in refunds)
    return (
        original,
        program,
        compute_refund(
            program,
            sale,
            items,
            previous,
            reversed_before,
            reversed_lots,
            previously_refunded=refunded_before,
            previously_restored=restored_before,
        ),
    )


def preview_refund(t: Terminal, receipt_id: str, items: Mapping[str, int]) -> dict[str, Any]:
    """What refunding ``items`` would pay back and move in points, for the manager to read
    before the PIN; nothing is recorded and no PIN is asked."""
    original, program, result = _refund_of(t, receipt_id, items)
    member_id = original["member_id"]
    preview: dict[str, Any] = {
        "refunded": str(result.money_refunded),
        "points_reversed": result.points_reversed if member_id else 0,
        "points_restored": result.points_restored if member_id else 0,
        # Units the sale gave free, returned first: no money back for them. Beside each SKU,
        # the money one more unit of it back would give (None: none is left to return).
        "free_returned": {
            sku: (free, _money_with_one_more(t, receipt_id, items, sku))
            for sku, free in result.free_returned.items()
        },
    }
    if member_id:  # the balance it leaves: a debt, when the points taken back were spent
        now = t.now()
        today = now.date()
        account = t.store.account(member_id)
        after = after_refund(
            account,
            today,
            result.points_reversed,
            result.reversed_lots,
            _restored_lots(result, program, now),
        )
        preview["balance"] = account.balance(today)
        preview["balance_after"] = after.balance(today)
    return preview


def _money_with_one_more(
    t: Terminal, receipt_id: str, items: Mapping[str, int], sku: str
) -> str | None:
    """The money back if one more unit of ``sku`` came back with ``items``; None when none
    is left to return."""
    more = {**items, sku: items[sku] + 1}
    try:
        return str(_refund_of(t, receipt_id, more)[2].money_refunded)
    except Refused:
        return None


def _sale(t: Terminal, receipt_id: str) -> dict[str, Any]:
    """The sale event printed as ``receipt_id``; a refund's receipt names its sale."""
    event = t.store.event_by_receipt(receipt_id)
    if event is not None and event["type"] == "refund":
        raise NotFound(
            f"Receipt {receipt_id} is a refund, not a sale: refund the sale "
            f"{event['original_receipt_id']} instead."
        )
    if event is None or event["type"] != "checkout":
        till = receipt_id.rpartition("-")[0]
        if event is None and till and till.upper() != t.config.terminal_id.upper():
            # Another till's receipt: a refund is made where the sale was (its journal).
            raise NotFound(
                f"Receipt {receipt_id} was printed by till {till}: refund it at that till "
                f"(this is {t.config.terminal_id})."
            )
        raise NotFound(f"No sale with receipt id {receipt_id!r} on this terminal.")
    return event


def _returned(t: Terminal, receipt_id: str) -> dict[str, int]:
    returned: dict[str, int] = {}
    for r in t.store.refunds_of(receipt_id):
        for line in r["lines"]:
            returned[line["sku"]] = returned.get(line["sku"], 0) + line["qty"]
    return returned


def refundable_lines(t: Terminal, receipt_id: str) -> tuple[list[RefundableLine], str]:
    """The lines of sale ``receipt_id`` with what is left to refund, and the member's masked card."""
    sale = _sale(t, receipt_id)
    returned = _returned(t, sale["receipt_id"])  # as printed, whatever the case it was typed in
    sold: dict[str, RefundableLine] = {}
    for line in sale["lines"]:
        known = sold.get(line["sku"])
        qty = line["qty"] + (known.sold if known else 0)
        price = from_minor(line["unit_price_minor"], sale["currency"])
        sold[line["sku"]] = RefundableLine(line["sku"], line["name"], qty, qty, price)
    lines = [
        RefundableLine(r.sku, r.name, r.sold, max(r.sold - returned.get(r.sku, 0), 0), r.unit_price)
        for r in sold.values()
    ]
    return lines, mask(sale.get("card"))


def verify(t: Terminal, at: datetime | None = None) -> dict[str, Any]:
    """Check the hash chain, the seq sequence, and every member's points against a journal replay.

    A row whose text is no longer an event (edited, or damaged on disk) is named; the chain is
    checked on past it from the hash stored beside it, so that the rest is still checked."""
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    rows = 0
    part: list[dict[str, Any]] = []
    prev_hash, first_seq = GENESIS_HASH, 1
    last_seq = 0
    for seq, stored_hash, event in t.store.journal():
        rows += 1
        last_seq = seq
        if event is not None:
            part.append(event)
            continue
        problems.extend(verify_chain(part, prev_hash, first_seq))
        problems.append(f"seq {seq}: the event's text is damaged (it is not an event's JSON)")
        events.extend(part)
        part, prev_hash, first_seq = [], stored_hash, seq + 1
    problems.extend(verify_chain(part, prev_hash, first_seq))
    events.extend(part)
    problems.extend(_missing_from_the_end(t, last_seq))
    by_member: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event.get("member_id"):
            by_member.setdefault(event["member_id"], []).append(event)
    cached_members: set[str] = set()
    for row in t.store.query("SELECT * FROM members ORDER BY member_id"):
        cached_members.add(row["member_id"])
        try:
            problems.extend(_member_problems(t, row, by_member.get(row["member_id"], [])))
        except StorageError as e:  # a column no longer readable: named, and the rest checked
            problems.append(_unreadable_member(e, row["member_id"]))
    for member_id, member_events in sorted(by_member.items()):
        if member_id not in cached_members:
            n = len(member_events)
            problems.append(
                f"member {member_id}: has {n} {'event' if n == 1 else 'events'} in the journal "
                "but is missing from the cache"
            )
    problems.extend(
        f"member {member_id}: cached tier spend per day differs from the journal"
        for member_id in t.store.spend_days_drift()
    )
    return {"ok": not problems, "events": rows, "problems": problems}


def _missing_from_the_end(t: Terminal, last_seq: int) -> list[str]:
    """What the records kept beside the journal say of events gone from its end (deleted by
    hand, the journal's append-only trigger dropped first), which leave a chain that verifies:
    the ledger's acknowledgements, the receipt prints. No record of the end is written with
    each event for this (decisions, "The cache and its journal")."""
    problems: list[str] = []
    ends = t.store.ends_recorded()
    if ends["acked"] > last_seq:
        problems.append(
            f"the ledger acknowledged this terminal's events up to seq {ends['acked']}, past "
            f"the journal's end at seq {last_seq}: "
            f"{_seqs_said(last_seq + 1, ends['acked'])} missing from its end"
        )
    if ends["printed"]:
        problems.extend(
            f"seq {seq}: its receipt's print is recorded, but the event is missing from the journal"
            for seq in t.store.prints_without_event()
        )
    return problems


def _seqs_said(first: int, last: int) -> str:
    """``seq 4 is`` or ``seqs 4 to 9 are``."""
    return f"seq {first} is" if first == last else f"seqs {first} to {last} are"


def _member_problems(t: Terminal, row: sqlite3.Row, events: list[dict[str, Any]]) -> list[str]:
    """What of ``row``, a member's cached row, differs from a replay of their ``events``."""
    problems: list[str] = []
    account = t.store.base_account(row)
    punch = t.store.punch(row, "base_punch")
    for event in events:
        if event["seq"] > row["base_seq"]:
            account = apply_event(account, event)
            punch = punch_after(punch, event)
    cached_punch = t.store.punch(row)
    if _counted(cached_punch) != _counted(punch):
        problems.append(
            f"member {row['member_id']}: cached punch cards {row['punch']} differ from the "
            f"journal replay {json.dumps(_counted(punch), sort_keys=True)}"
        )
    cached = t.store.account(row["member_id"], row)
    if sorted(map(_lot_key, account.lots)) != sorted(map(_lot_key, cached.lots)) or (
        account.debt != cached.debt
    ):
        held, replayed = sum(lot.points for lot in cached.lots), sum(x.points for x in account.lots)
        if (held, cached.debt) == (replayed, account.debt):
            # The same figures, in lots of other dates: said as such, not as "5149 - 0 differ
            # from 5149 - 0", which left the reader nothing to compare.
            problems.append(
                f"member {row['member_id']}: cached points ({held} - {cached.debt}) are dated "
                f"otherwise than the journal replay's (expiring {_lots_said(cached)} cached, "
                f"{_lots_said(account)} replayed)"
            )
        else:
            problems.append(
                f"member {row['member_id']}: cached points ({held} - {cached.debt}) differ from "
                f"the journal replay ({replayed} - {account.debt})"
            )
    return problems


def _lots_said(account: Account) -> str:
    """``2880 on 2027-11-20, 2269 on 2027-11-21``: an account's lots by their expiry."""
    lots = sorted(account.lots, key=lambda lot: (_lot_key(lot)[2] or "~", lot.points))
    return (
        ", ".join(
            f"{lot.points} {'on ' + lot.expires_at.isoformat() if lot.expires_at else 'never'}"
            for lot in lots
        )
        or "none"
    )


def _unreadable_member(error: StorageError, member_id: str) -> str:
    """``verify``'s line for a member whose cached ``column`` cannot be read."""
    column = str(error.details.get("column", ""))
    said = MEMBER_COLUMNS_SAID.get(column, "state")
    return f"member {member_id}: the cached {said} ({column}) are not readable"


def _counted(punch: Mapping[str, Any]) -> dict[str, Any]:
    """Punch counters without those at 0 (a counter back at 0 may be kept or left out)."""
    return {sku: n for sku, n in punch.items() if n != 0}


def _lot_key(lot: Lot) -> tuple[int, str, str]:
    return (
        lot.points,
        lot.earned_at.isoformat(),
        lot.expires_at.isoformat() if lot.expires_at else "",
    )
