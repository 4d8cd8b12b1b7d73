"""Request and response bodies of the HTTP API: pydantic models at the edge, also what
``/openapi.json`` documents. Events inside a push are only typed as objects here; each one is
validated on its own (``wire``) so that one bad event is rejected without failing the batch."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError, from_json

from loyalty_pos.domain.events import MAX_ID, MAX_POINTS, text_problem


def printable(value: str, info: ValidationInfo) -> str:
    """An id (a member id, a card) as text the ledger can store and print: no control character.
    PostgreSQL cannot hold NUL in text at all, so refusing it here keeps it from the database
    (a 500 before); ESC or a line break would be a command or a broken line on a receipt."""
    if problem := text_problem(value, MAX_ID, info.field_name or "the id"):
        raise PydanticCustomError("control_character", "{problem}", {"problem": problem})
    return value


TerminalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Ident = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID), AfterValidator(printable)
]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
MAX_EVENTS = 1000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PushRequest(_In):
    terminal_id: TerminalId
    events: Annotated[list[dict[str, Any]], Field(max_length=MAX_EVENTS)]
    sent_at: AwareDatetime | None = Field(
        None, description="The terminal's clock when it sent the batch; measures clock skew."
    )


def parse_push(body: bytes) -> PushRequest:
    """``PushRequest.model_validate_json(body)``, and the same ValidationError, for less: the
    hot path of every push.

    Validating ``events`` copies every event's object (``dict[str, Any]``); here the text is read
    with the same JSON parser (pydantic's, ``from_json``: the same numbers, nesting limit, NaN
    and duplicate keys), the request's other fields are validated by the model itself, and the
    events, when they are a list of at most ``MAX_EVENTS`` objects, are taken as read. Anything
    else, or any error, goes through ``model_validate_json``, which says what is wrong exactly
    as before."""
    try:
        data = from_json(body)
    except ValueError:
        data = None
    if type(data) is dict:
        events = data.get("events")
        if (
            type(events) is list
            and len(events) <= MAX_EVENTS
            and all(type(event) is dict for event in events)
        ):
            try:
                head = PushRequest.model_validate({**data, "events": []})
            except ValidationError:
                pass
            else:
                return head.model_copy(update={"events": events})
    return PushRequest.model_validate_json(body)


class EventResultOut(_Out):
    event_id: str | None
    status: str = Field(description="accepted | duplicate | rejected")
    reason: str | None = Field(None, description="invalid | conflict | gap | chain")
    message: str | None = None
    ledger_seq: int | None = None
    duplicate: bool = False


class Head(_Out):
    seq: int
    hash: str
    terminal_id: str | None = Field(
        None,
        description="The terminal the calling token belongs to (in a pull's head): a till "
        "set up with another till's token is told whose it is.",
    )


class PushResponse(_Out):
    results: list[EventResultOut]
    head: Head


class CardOut(_Out):
    card: str
    status: str


class LotOut(_Out):
    points: int
    earned_at: str
    expires_at: str | None


class MemberSnapshot(_Out):
    member_id: str
    cards: list[CardOut]
    name: str | None
    email: str | None
    phone: str | None
    birthday: str | None
    tier: str | None
    qualifying_spend_minor: int
    window_spend: list[tuple[str, int]] = Field(
        default_factory=list,
        description="The spend that counts in the tier window from now on, as [occurred_at, "
        "spend_minor] pairs oldest first (refunds negative): a terminal sums the pairs inside "
        "the window at any later moment. Left out by ledgers before snapshot_format 2.",
    )
    balance: int
    lots: list[LotOut]
    written_off: list[LotOut] = Field(
        default_factory=list,
        description="Lapsed lots the expiry runs wrote off (not in the balance), kept 90 days "
        "after they lapsed: a refund of the sale that earned one takes the points that lapsed "
        "unused from it, and a sale dated before the run pays from it, not from the member's "
        "other points.",
    )
    owed: list[LotOut] = Field(
        default_factory=list,
        description="Points a refund took back after the member had spent them, under the "
        "dates of the lot they were taken back for; the return of the sale that spent them "
        "settles them first (the debt falls, and the points in covered come back). Left out "
        "by earlier ledgers (none).",
    )
    covered: list[LotOut] = Field(
        default_factory=list,
        description="The member's points that made up for owed (taken instead, or earnings "
        "that paid the debt), under their own dates; not in the balance.",
    )
    status: str
    punch: dict[str, int]
    last_birthday_bonus: str | None
    counted_through: dict[str, int]
    enrolled_at: str | None = Field(
        None,
        description="When the member was enrolled (at a till, or by the ledger's members "
        "import): a terminal's report counts the member's lifetime from it, as the ledger's "
        "does. Left out by ledgers before snapshot_format 4.",
    )


class MemberView(MemberSnapshot):
    debt: int
    spendable_balance: int
    ledger_balance: int
    next_expiry: str | None


class ProgramOut(_Out):
    version: int
    rules: dict[str, Any]


class PullResponse(_Out):
    members: list[MemberSnapshot]
    program: ProgramOut | None
    cursor: int
    more: bool
    snapshot_format: int = Field(
        1,
        description="2 when the snapshots carry window_spend, 3 when a refund's spend there is "
        "dated at its sale's moment, 4 when they carry enrolled_at; a terminal holding "
        "snapshots of an older format pulls again from 0.",
    )
    head: Head | None = Field(
        None,
        description="The calling terminal's chain head, as a push answers it (null for the "
        "admin token). A terminal that was told a higher seq before sends its events after "
        "this one again: the ledger was restored from a backup and lost them.",
    )


class TerminalIn(_In):
    terminal_id: TerminalId


class TerminalToken(_Out):
    terminal_id: str
    token: str = Field(description="Shown once; the ledger keeps only its SHA-256.")


class TerminalRevoked(_Out):
    terminal_id: str
    revoked_at: str


class AdjustIn(_In):
    points: Annotated[int, Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS)]
    reason: Reason


class ReasonIn(_In):
    reason: Reason


class CardIn(_In):
    card: Ident


class LedgerChange(_Out):
    member_id: str | None = None
    card: str | None = None
    status: str | None = None
    balance: int | None = None
    event_id: str
    ledger_seq: int


class ProgramStored(_Out):
    version: int
    ledger_seq: int


class ExpireOut(_Out):
    at: str
    members: int
    lots: int
    points: int


class Outstanding(_Out):
    points: int
    value_minor: int | None
    positive_balances: int
    debt: int


class MemberBalance(_Out):
    member_id: str
    balance: int


class BalancesOut(_Out):
    """The store-wide figures at a period's end that a till's report takes from the ledger."""

    from_: str = Field(alias="from")
    to: str
    currency: str | None
    outstanding: Outstanding
    negative_balances: list[MemberBalance]
    expired: int


class Health(_Out):
    status: str
    database: str
    ledger_seq: int


class Problem(_Out):
    error: str
    message: str
