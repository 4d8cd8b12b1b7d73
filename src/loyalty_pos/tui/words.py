"""Plain words and short formats for what the cashier reads: limits, money, points, dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from loyalty_pos.domain.money import format_money


def money(amount: Decimal | str | None, currency: str = "") -> str:
    if amount is None:
        return "-"
    value = Decimal(amount)
    text = format_money(value, currency) if currency else f"{value:.2f}"
    return f"{text} {currency}".strip()


def points(n: int | None) -> str:
    return "-" if n is None else f"{n} pts"


def day(d: date | datetime | None) -> str:
    return "-" if d is None else d.strftime("%Y-%m-%d")


def clock(d: datetime | None) -> str:
    return "never" if d is None else d.strftime("%H:%M")


def punch_card(card: dict[str, object]) -> str:
    """A punch card (``checkout.punch_card_json``) on one line: "Coffee card: 6th free · 3 of
    5, free after 2 more"."""
    return f"{card['name']} · {card['progress']}"


# -- a sync that did not go through ---------------------------------------------------------------
# The sync's own sentences are for the person who runs the ledger (`loyalty-pos sync`, the
# nightly job): an address, an HTTP status, an exception's name, a seq. The app says what a
# cashier can act on, and the till's error log keeps those sentences (``LedgerSync``).

_KEPT = "Sales go on offline and are kept here until it is sorted out"
_TELL = "tell the IT person (the details are in this till's error log)."


#: What the cashier reads when F12's sync waits for another sync of this till to end.
SYNC_WAITS = (
    "Another sync of this till is running (the nightly job's, or one started at the back "
    "office): this one waits for it to end."
)


def sync_failure(code: str, details: dict[str, object]) -> str:
    """What a cashier reads when a sync failed: ``code`` and ``details`` of the error raised
    (``LoyaltyPosError.code``, ``.details``), ``internal`` for a fault of the till itself."""
    status = details.get("status")
    taken = details.get("acknowledged")
    if code == "sync" and details.get("stage") == "pull" and isinstance(taken, int):
        return _pull_failure(taken, details)
    if code == "sync" and details.get("reason") == "busy":
        said = (
            "This till's other sync (the nightly job's, or one started at the back office) "
            "has run for minutes and not ended. Sales go on offline and are sent later."
        )
    elif code == "sync" and details.get("reason") == "unreachable":
        said = "The ledger cannot be reached. Sales go on offline and are sent later."
    elif code == "sync" and status == 429:
        said = "The ledger is busy just now. Sales go on offline and are sent later."
    elif code == "sync" and isinstance(status, int) and status >= 500:
        said = (
            "The ledger has a problem of its own just now. Sales go on offline and are sent later."
        )
    elif code == "auth":
        said = f"The ledger does not accept this till. {_KEPT}: {_TELL}"
    elif code == "internal":
        said = f"The sync failed: a fault in this till. {_KEPT}: {_TELL}"
    elif details.get("reason") == "tls":
        said = f"The ledger cannot be reached with this till's settings. {_KEPT}: {_TELL}"
    else:
        said = f"The ledger did not take this sync. {_KEPT}: {_TELL}"
    if details.get("pushed") is not None:  # part of the backlog got there first
        said = "The sync stopped part-way. " + said
    return said


def _pull_failure(taken: int, details: dict[str, object]) -> str:
    """A sync whose push the ledger took, and whose pull of the members' changes failed."""
    status = details.get("status")
    sent = f"This till's {taken} new record{'s' if taken != 1 else ''} reached the ledger."
    if details.get("reason") == "unreachable":
        why = "the ledger cannot be reached. The next sync fetches them."
    elif status == 429:
        why = "the ledger is busy just now. The next sync fetches them."
    elif isinstance(status, int) and status >= 500:
        why = "the ledger has a problem of its own just now. The next sync fetches them."
    else:
        why = f"the ledger did not answer as it should. Please {_TELL}"
    return (
        f"{sent} Only the member updates could not be fetched: {why} Sales go on offline meanwhile."
    )


def sync_problems(result: dict[str, object]) -> list[str]:
    """What a cashier reads of a sync that went through with a problem: events the ledger holds
    back (or another till under this one's name), a clock off the ledger's."""
    said: list[str] = []
    if result.get("problem"):
        held = result.get("held")
        if isinstance(held, int) and held:
            said.append(
                f"The ledger holds back {held} of this till's records (HELD on the status line): "
                f"they are kept here. Please {_TELL}"
            )
        else:
            said.append(
                "The ledger already has records of another till under this till's name: this "
                f"till's sales wait, and it will soon count as offline. Please {_TELL}"
            )
    off = result.get("clock_off_s")
    if result.get("clock") and isinstance(off, int):
        # as ``sync.client.clock_offset_words`` says it (not imported: the app loads the sync
        # client on its sync thread, not at start)
        seconds = abs(off)
        if seconds >= 7 * 86400:
            amount = f"{seconds / 86400:,.0f} days"
        elif seconds >= 5400:
            amount = f"{seconds / 3600:.1f} hours"
        else:
            amount = f"{round(seconds / 60)} minutes"
        said.append(
            f"This till's clock is {amount} {'fast' if off > 0 else 'slow'}: sales are dated by "
            f"it. Please {_TELL}"
        )
    return said
