"""Events and the hash chain (DESIGN.md §7).

``hash = sha256(prev_hash || canonical_json(event without "hash"))`` where canonical JSON has sorted
keys, no spaces, UTF-8. Any edit, deletion or reordering of a journal breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

GENESIS_HASH = "0" * 64

#: The longest id an event carries (a member id, a card, a SKU) and the longest text (a name, an
#: email, a category, a rule's label). The ledger refuses an event with a longer one, so the
#: terminal refuses it where it comes in (an import, an enrolment, a new card, a program): a sale
#: it has recorded is never turned away by the ledger for the length of a field.
MAX_ID = 64
MAX_TEXT = 200
#: The longest reason a manager gives for an adjustment or the ledger for a freeze.
MAX_REASON = 500
#: The most points one event moves (the ledger refuses more).
MAX_POINTS = 10**12
#: The most lines a sale or a refund lists, and the most entries of its other lists (the points
#: breakdown, the lots, the punch counters): the ledger refuses longer ones.
MAX_LINES = 1000
MAX_ENTRIES = 100


#: Characters no name, label or reason may hold: C0 and C1 controls, DEL, the Unicode line and
#: paragraph separators, and the bidirectional embedding, override and isolate controls (U+202A-
#: U+202E, U+2066-U+2069). On a receipt printer a control character is a command (ESC @ resets
#: it, ESC p opens the cash drawer, GS V cuts the paper); on a screen or a receipt a line break in
#: a name breaks the layout; a bidi override shows text in another order than it is stored
#: ("Trojan source"), so a reason or a name could read as something else in every report. The
#: zero-width joiners (U+200C, U+200D) are not here: scripts and emoji need them inside text.
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

#: Characters that show nothing on their own: the zero-width space, non-joiner and joiner, the
#: word joiner and the byte order mark (zero-width no-break space).
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def is_blank(value: str) -> bool:
    """True when ``value`` has no visible character: only whitespace and zero-width characters
    (a reason made of a zero-width space looks given but says nothing)."""
    return all(c.isspace() or c in _INVISIBLE for c in value)


def reason_problem(reason: str) -> str | None:
    """What is wrong with a reason put on the record (an adjustment, a freeze), or None: it must
    have a visible character and be one line of printable text (its surrounding spaces aside)."""
    if is_blank(reason):
        return "the reason has no visible character"
    return text_problem(reason.strip(), MAX_REASON, "the reason")


def text_problem(value: str, limit: int, what: str) -> str | None:
    """A sentence saying what is wrong with the text ``what``: longer than ``limit`` characters
    or holding a control character; None when it is fine."""
    if len(value) > limit:
        return f"{what} is {len(value)} characters long (at most {limit})"
    if found := CONTROL_CHARACTER.search(value):
        return (
            f"{what} holds a control character (U+{ord(found.group()):04X} at position "
            f"{found.start() + 1}); only printable text is taken"
        )
    return None


#: A member's birthday, as an enrolment or an import gives it: exactly YYYY-MM-DD
#: (``date.fromisoformat`` also takes 20000101 and 2000-W01-1, which the ledger's wire does not).
_BIRTHDAY = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EARLIEST_BIRTHDAY = date(1900, 1, 1)


def birthday_problem(text: str, today: date) -> str | None:
    """What is wrong with ``text`` as a member's birthday on ``today``, or None."""
    try:
        born = date.fromisoformat(text) if _BIRTHDAY.fullmatch(text) else None
    except ValueError:
        born = None
    if born is None:
        return f"birthday {text!r} is not a date YYYY-MM-DD"
    if born > today:
        return f"birthday {text} is in the future"
    if born < _EARLIEST_BIRTHDAY:
        return f"birthday {text} is before {_EARLIEST_BIRTHDAY.year}"
    return None


def email_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a member's email address, or None: one ``@`` between a
    name and a domain, the domain's parts separated by dots, none of them empty
    (``ada@example.org``), and no space. ``zoe@example`` is refused: mail to it cannot arrive,
    and the customer usually meant ``zoe@example.com``. Deliberately no more than that: the rest
    is the mail server's to judge."""
    what = f"email {text!r} is not an email address"
    if any(c.isspace() for c in text):
        return f"{what}: it holds a space"
    if text.count("@") != 1:
        return f"{what}: it needs one @ between a name and a domain (name@example.org)"
    local, _, domain = text.partition("@")
    if not local:
        return f"{what}: there is no name before the @ (name@example.org)"
    if not domain:
        return f"{what}: there is no domain after the @ (name@example.org)"
    labels = domain.split(".")
    if len(labels) < 2:
        return f"{what}: its domain {domain!r} has no dot (name@example.org)"
    if not all(labels):
        return f"{what}: its domain {domain!r} is not a domain name (name@example.org)"
    return None


TERMINAL_EVENT_TYPES = frozenset(
    {"enroll", "checkout", "refund", "adjust", "card_link", "card_block"}
)
LEDGER_EVENT_TYPES = frozenset({"expire", "freeze", "unfreeze", "adjust"})


def receipt_id(terminal_id: str, seq: int) -> str:
    """The id printed on a sale's or refund's receipt: the terminal and the seq of its event
    (``T1-000017``), unique without coordination."""
    return f"{terminal_id}-{seq:06d}"


#: What a scanned code must look like to be taken for a receipt id (and open a refund): any
#: terminal's ``receipt_id``.
RECEIPT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}-\d{6,18}$")


def is_receipt_id(code: str) -> bool:
    return RECEIPT_ID.fullmatch(code) is not None


#: An entry that starts with a quantity: the checkout app reads ``3*COFFEE`` (typed or scanned,
#: spaces around ``*`` and any digits ``int`` takes) as 3 of ``COFFEE``, and refuses ``2.5*MILK``
#: (or ``2,5*MILK``) as a quantity that is not a whole number.
QUANTITY_GIVEN = re.compile(r"^\s*(?:\d+(?:[.,]\d*)?|[.,]\d+)\s*\*")


def receipt_seq(receipt: str) -> int | None:
    """The seq in an id made by ``receipt_id``, or None when ``receipt`` is not one."""
    _, dash, digits = receipt.rpartition("-")
    if not dash or not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 18):
        return None
    return int(digits)


#: Set up once: it serialises every event a terminal records and a ledger receives. An event is a
#: tree (parsed JSON, or built from fields), never a cycle, so the encoder does not look for one:
#: same text, about a tenth less time (a ledger encodes every event it receives).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)


def canonical_text(obj: Mapping[str, Any]) -> str:
    """Sorted keys, no spaces, no escaping of non-ASCII: the form events are hashed and kept in."""
    return _CANONICAL.encode(obj)


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """``canonical_text`` as UTF-8: the bytes the chain hash covers."""
    return canonical_text(obj).encode()


def chain_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(prev_hash.encode() + canonical_json(body)).hexdigest()


def seal(event: Mapping[str, Any], prev_hash: str) -> dict[str, Any]:
    """The event with ``prev_hash`` and ``hash`` set."""
    return seal_text(event, prev_hash)[0]


def seal_text(
    event: Mapping[str, Any],
    prev_hash: str,
    encode: Callable[[Mapping[str, Any]], str] = canonical_text,
) -> tuple[dict[str, Any], str]:
    """``seal`` and the sealed event's ``canonical_text``, encoding the body once.

    Canonical text is ``{`` + the members in key order + ``}``, so the members sorting before
    "hash" and those after it are encoded apart: joined, they are the text the hash covers; with
    the hash member between them, the text that is kept. ``encode`` is ``canonical_text`` or an
    encoder that writes the same text (``loyalty_pos.canonical.seal_text`` seals with its own,
    faster, writing the event once around a placeholder for the hash).
    """
    sealed = {k: v for k, v in event.items() if k != "hash"}
    sealed["prev_hash"] = prev_hash
    before = encode({k: v for k, v in sealed.items() if k < "hash"})[1:-1]
    after = encode({k: v for k, v in sealed.items() if k > "hash"})[1:-1]
    hashed = "{" + ",".join(part for part in (before, after) if part) + "}"
    digest = hashlib.sha256(prev_hash.encode() + hashed.encode()).hexdigest()
    sealed["hash"] = digest
    member = f'"hash":"{digest}"'
    return sealed, "{" + ",".join(part for part in (before, member, after) if part) + "}"


def verify_chain(
    events: Iterable[Mapping[str, Any]],
    prev_hash: str = GENESIS_HASH,
    first_seq: int = 1,
) -> list[str]:
    """Problems with a terminal's journal: seq gaps, broken links, wrong hashes. Empty when sound."""
    problems: list[str] = []
    expected_seq = first_seq
    for event in events:
        seq = event.get("seq")
        if seq != expected_seq:
            problems.append(f"seq {seq}: expected seq {expected_seq}")
        if event.get("prev_hash") != prev_hash:
            problems.append(f"seq {seq}: prev_hash does not match the previous event's hash")
        if event.get("hash") != chain_hash(str(event.get("prev_hash")), event):
            problems.append(f"seq {seq}: hash does not match the event's content")
        prev_hash = str(event.get("hash"))
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    return problems
