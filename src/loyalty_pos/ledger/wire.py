"""The events as they arrive on the wire (DESIGN.md §7), validated into typed models.

A terminal's event is checked in two steps. The envelope (id, terminal, seq, hashes) must be sound
before the ledger can place the event in the terminal's chain at all; ``Envelope.check`` does that
by hand because it runs for every event of every push. Then the body is validated by the pydantic
model of its type: a wrong type, a huge number, a negative quantity, lots that do not add up, or an
unknown event type makes the event ``invalid``. Fields the ledger does not know are kept in the
stored body (the hash covers them) but are not interpreted.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from loyalty_pos import canonical
from loyalty_pos.domain.events import (
    MAX_ENTRIES,
    MAX_ID,
    MAX_LINES,
    MAX_POINTS,
    MAX_REASON,
    MAX_TEXT,
    canonical_text,
)
from loyalty_pos.domain.money import MAX_MINOR

#: The ledger's own chain of events (expire, freeze, admin adjust, ...). ``@`` is not allowed in a
#: terminal id, so no terminal can ever push into it.
LEDGER_TERMINAL = "@ledger"

TERMINAL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")

MAX_QTY = 10**6
MAX_SEQ = 2**53
MAX_EVENT_BYTES = 256 * 1024

TERMINAL_TYPES = frozenset({"enroll", "checkout", "refund", "adjust", "card_link", "card_block"})
LEDGER_TYPES = frozenset(
    {"enroll", "adjust", "card_link", "card_block", "expire", "freeze", "unfreeze", "program"}
)

Points = Annotated[int, Field(strict=True, ge=0, le=MAX_POINTS)]
PositivePoints = Annotated[int, Field(strict=True, ge=1, le=MAX_POINTS)]
SignedPoints = Annotated[int, Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS)]
Minor = Annotated[int, Field(strict=True, ge=0, le=MAX_MINOR)]
Qty = Annotated[int, Field(strict=True, ge=1, le=MAX_QTY)]
Count = Annotated[int, Field(strict=True, ge=0, le=10**9)]
Delta = Annotated[int, Field(strict=True, ge=-(10**9), le=10**9)]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
Label = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=MAX_REASON)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Flag = Annotated[bool, Field(strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LotIn(_Model):
    points: PositivePoints
    earned_at: date
    expires_at: date | None = None

    @model_validator(mode="after")
    def _expires_after_earning(self) -> LotIn:
        if self.expires_at is not None and self.expires_at <= self.earned_at:
            raise ValueError("a lot must expire after the day it was earned")
        return self


class SaleLine(_Model):
    sku: Ident
    name: Label = ""
    qty: Qty
    unit_price_minor: Minor
    category: Label = ""
    free_units: Count = 0

    @model_validator(mode="after")
    def _free_within_qty(self) -> SaleLine:
        if self.free_units > self.qty:
            raise ValueError(f"{self.sku}: more free units than units")
        return self


class ReturnLine(_Model):
    sku: Ident
    qty: Qty


class BreakdownIn(_Model):
    rule: Label
    points: SignedPoints


def _lots_total(lots: list[LotIn]) -> int:
    return sum(lot.points for lot in lots)


class EventIn(_Model):
    """Fields every event has."""

    event_id: Annotated[str, StringConstraints(pattern=_UUID_RE.pattern)]
    terminal_id: Annotated[str, StringConstraints(pattern=r"^(@ledger|[A-Za-z0-9_-]{1,32})$")]
    seq: Annotated[int, Field(strict=True, ge=1, le=MAX_SEQ)]
    type: str
    occurred_at: AwareDatetime
    program_version: Annotated[int, Field(strict=True, ge=0, le=2**31)] | None = None
    prev_hash: str
    hash: str

    @property
    def member(self) -> str | None:
        return getattr(self, "member_id", None)


class Enroll(EventIn):
    type: Literal["enroll"]
    member_id: Ident
    card: Ident | None = None
    name: Label | None = None
    email: Label | None = None
    phone: Label | None = None
    birthday: date | None = None
    provisional: Flag = False


class Checkout(EventIn):
    type: Literal["checkout"]
    member_id: Ident | None = None
    card: Ident | None = None
    receipt_id: Ident
    currency: Currency
    total_minor: Minor
    discount_minor: Minor = 0
    points_value_minor: Minor = 0
    due_minor: Minor
    points_earned: Points = 0
    points_redeemed: Points = 0
    lines: Annotated[list[SaleLine], Field(max_length=MAX_LINES, default_factory=list)]
    breakdown: Annotated[list[BreakdownIn], Field(max_length=MAX_ENTRIES, default_factory=list)]
    lots: Annotated[list[LotIn], Field(max_length=MAX_ENTRIES, default_factory=list)]
    #: the lots the points payment was taken from, with their dates (a refund gives them back
    #: so); absent from sales recorded before they were named
    spent: Annotated[list[LotIn], Field(max_length=MAX_ENTRIES, default_factory=list)]
    tier: Label | None = None
    #: punches toward each SKU's next free unit; below 0 after a refund took back punches that a
    #: free unit had used
    punch_before: Annotated[dict[Ident, Delta], Field(max_length=MAX_ENTRIES, default_factory=dict)]
    punch_after: Annotated[dict[Ident, Delta], Field(max_length=MAX_ENTRIES, default_factory=dict)]
    birthday_bonus: Flag = False
    offline: Flag = False

    @model_validator(mode="after")
    def _adds_up(self) -> Checkout:
        if self.due_minor != self.total_minor - self.points_value_minor:
            raise ValueError("due_minor must be total_minor - points_value_minor")
        if _lots_total(self.lots) != self.points_earned:
            raise ValueError("the lots must add up to points_earned")
        if _lots_total(self.spent) > self.points_redeemed:
            raise ValueError("the spent lots must not add up to more than points_redeemed")
        if (
            self.member_id is None
            and self.card is None
            and (self.points_earned or self.points_redeemed)
        ):
            raise ValueError("points can only be earned or redeemed by a member")
        return self


class Refund(EventIn):
    type: Literal["refund"]
    member_id: Ident | None = None
    card: Ident | None = None
    receipt_id: Ident
    original_receipt_id: Ident
    currency: Currency
    lines: Annotated[list[ReturnLine], Field(max_length=MAX_LINES, default_factory=list)]
    refund_minor: Minor
    points_reversed: Points = 0
    points_restored: Points = 0
    lots: Annotated[list[LotIn], Field(max_length=MAX_ENTRIES, default_factory=list)]
    #: the lots of the sale the points taken back come from (earlier refunds name none)
    reversed_lots: Annotated[list[LotIn], Field(max_length=MAX_ENTRIES, default_factory=list)]
    punch_delta: Annotated[dict[Ident, Delta], Field(max_length=MAX_ENTRIES, default_factory=dict)]
    #: the day of the birthday bonus this refund takes back (everything was returned)
    birthday_bonus_returned: date | None = None

    @model_validator(mode="after")
    def _adds_up(self) -> Refund:
        if _lots_total(self.lots) != self.points_restored:
            raise ValueError("the lots must add up to points_restored")
        if _lots_total(self.reversed_lots) > self.points_reversed:
            raise ValueError("the reversed lots must not add up to more than points_reversed")
        if (
            self.member_id is None
            and self.card is None
            and (self.points_reversed or self.points_restored)
        ):
            raise ValueError("points can only be reversed or restored for a member")
        return self


class Adjust(EventIn):
    type: Literal["adjust"]
    member_id: Ident
    points: SignedPoints
    reason: Reason
    lots: Annotated[list[LotIn], Field(max_length=MAX_ENTRIES, default_factory=list)]

    @model_validator(mode="after")
    def _adds_up(self) -> Adjust:
        if self.points == 0:
            raise ValueError("an adjustment must move at least one point")
        if self.points > 0 and _lots_total(self.lots) != self.points:
            raise ValueError("the lots must add up to the points added")
        if self.points < 0 and self.lots:
            raise ValueError("a negative adjustment has no lots")
        return self


class CardLink(EventIn):
    type: Literal["card_link"]
    member_id: Ident
    card: Ident


class CardBlock(EventIn):
    type: Literal["card_block"]
    member_id: Ident
    card: Ident


class Expire(EventIn):
    type: Literal["expire"]
    member_id: Ident
    points: PositivePoints
    earned_at: date
    expires_at: date


class Freeze(EventIn):
    type: Literal["freeze"]
    member_id: Ident
    reason: Reason


class Unfreeze(EventIn):
    type: Literal["unfreeze"]
    member_id: Ident
    reason: Reason


class ProgramSet(EventIn):
    type: Literal["program"]
    version: Annotated[int, Field(strict=True, ge=1, le=2**31)]
    rules: dict[str, Any]


EVENT_MODELS: dict[str, type[EventIn]] = {
    "enroll": Enroll,
    "checkout": Checkout,
    "refund": Refund,
    "adjust": Adjust,
    "card_link": CardLink,
    "card_block": CardBlock,
    "expire": Expire,
    "freeze": Freeze,
    "unfreeze": Unfreeze,
    "program": ProgramSet,
}


def describe(error: ValidationError, limit: int = 3) -> str:
    """A short sentence out of pydantic's errors: the first few fields and what is wrong."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "event"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_body(raw: dict[str, Any], allowed: frozenset[str]) -> EventIn:
    """The typed event, or ValueError with a sentence saying what is wrong."""
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in EVENT_MODELS or kind not in allowed:
        raise ValueError(f"unknown event type {str(kind)[:40]!r}")
    try:
        # ``model_validate`` without its Python wrapper, which only passes its defaults on
        return EVENT_MODELS[kind].__pydantic_validator__.validate_python(raw)  # type: ignore[no-any-return]
    except ValidationError as e:
        raise ValueError(describe(e)) from e


class Envelope(NamedTuple):
    """What the ledger needs to place an event in its terminal's chain, checked before anything else.

    An immutable tuple, not a frozen dataclass: one is built for every pushed event, and a
    frozen dataclass's ``__init__`` (a generic ``object.__setattr__`` per field) costs several
    times a tuple's.

    Attributes:
        raw: the event as received.
        event_id, terminal_id, seq, prev_hash, hash: the chain fields (None when unusable).
        problem: why the envelope cannot be placed in a chain, or None.
        body: canonical JSON of the event without its ``hash``: what is stored, what the hash
            covers, and what a resend is compared with.
        hash_ok: ``hash`` is the chain hash of ``prev_hash`` and the content.
    """

    raw: Any
    event_id: str | None
    terminal_id: str | None
    seq: int | None
    prev_hash: str | None
    hash: str | None
    problem: str | None
    body: str
    hash_ok: bool

    @staticmethod
    def check(raw: Any) -> Envelope:
        if not isinstance(raw, dict):
            return Envelope(
                raw, None, None, None, None, None, "an event must be a JSON object", "", False
            )
        # Each field is kept only when it is well formed, whatever else is wrong: a rejection
        # records them, so a malformed one (a list for a seq) must never get that far.
        event_id, terminal_id, seq = raw.get("event_id"), raw.get("terminal_id"), raw.get("seq")
        if not isinstance(event_id, str) or not _UUID_RE.match(event_id):
            event_id = None
        if not isinstance(terminal_id, str) or len(terminal_id) > 40:
            terminal_id = None
        if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= MAX_SEQ:
            seq = None
        prev_hash, hash_ = raw.get("prev_hash"), raw.get("hash")
        problem = None
        if event_id is None:
            problem = "event_id must be a UUID"
        elif terminal_id is None:
            problem = "terminal_id must be a terminal id"
        elif seq is None:
            problem = "seq must be a whole number from 1"
        elif not isinstance(prev_hash, str) or not _HEX64_RE.match(prev_hash):
            problem = "prev_hash must be 64 lower-case hex digits"
        elif not isinstance(hash_, str) or not _HEX64_RE.match(hash_):
            problem = "hash must be 64 lower-case hex digits"
        if problem or not isinstance(prev_hash, str):
            return Envelope(raw, event_id, terminal_id, seq, None, None, problem, "", False)
        try:
            # chain_hash(prev_hash, raw) by definition, computed here from the one canonical
            # serialisation that is also what the ledger stores (pushes are CPU-bound).
            content = raw.copy()
            del content["hash"]
            text = canonical.canonical_text(content)
            body = text.encode()
            hash_ok = hashlib.sha256(prev_hash.encode() + body).hexdigest() == hash_
            if not hash_ok:
                # orjson writes a float otherwise than the domain's encoder (``canonical``), and
                # a terminal's event holds none; should one come, the domain's text decides.
                exact = canonical_text(content)
                if exact != text:
                    text, body = exact, exact.encode()
                    hash_ok = hashlib.sha256(prev_hash.encode() + body).hexdigest() == hash_
        except (UnicodeEncodeError, ValueError, RecursionError):
            return Envelope(
                raw,
                event_id,
                terminal_id,
                seq,
                None,
                None,
                "the event is not valid UTF-8 JSON",
                "",
                False,
            )
        if len(body) > MAX_EVENT_BYTES:
            return Envelope(
                raw,
                event_id,
                terminal_id,
                seq,
                None,
                None,
                f"an event must be at most {MAX_EVENT_BYTES} bytes",
                "",
                False,
            )
        return Envelope(raw, event_id, terminal_id, seq, prev_hash, hash_, None, text, hash_ok)
