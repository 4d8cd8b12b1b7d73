"""The events' canonical JSON (``domain.events``) written and read through orjson.

The domain defines the canonical form with the standard library: sorted keys, no spaces,
non-ASCII as it is. For what an event holds (objects with text keys, text, integers within 64
bits, true, false, null, lists) orjson writes the same text about ten times faster, and a
checkout writes one or two events' worth of it. What orjson refuses (a key that is not text, a
larger integer, a text with a lone surrogate) goes to the domain's encoder, so the text is the
domain's whatever the input; ``tests/unit/test_canonical.py`` checks that the two agree on
arbitrary JSON values.

orjson would also write dates and dataclasses, which the standard library refuses: those go to
the domain's encoder too (which raises, as before). Two differences are left, for values no
event holds: orjson writes a float's exponent otherwise (``1e16`` for ``1e+16``) and writes UUID
and enum objects the standard library refuses. Events carry no floats (money is in minor units,
points are whole) and no such objects; a test walks every kind of event a terminal records to
hold that. The ledger checks what it receives (any JSON a terminal sends) against this text
first and, when the hash does not match, against the domain's (``ledger.wire.Envelope``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

from .domain import events

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    """orjson's ``default``: a value it would write in its own way goes to the domain's encoder."""
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> str:
    """The canonical text of any JSON value: an event's (``canonical_text``), and the form the
    cache keeps lots, receipts and punch counters in."""
    try:
        return orjson.dumps(value, default=_refuse, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return events.canonical_text(value)


def canonical_text(obj: Mapping[str, Any]) -> str:
    """``domain.events.canonical_text``, fast."""
    return dumps(obj)


def _canonical_bytes(obj: Mapping[str, Any]) -> bytes:
    """``domain.events.canonical_json``: ``canonical_text`` as UTF-8, as orjson writes it."""
    try:
        return orjson.dumps(obj, default=_refuse, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return events.canonical_json(obj)


#: What "hash" holds while the sealed event is written: a text no event is expected to hold, and
#: ``seal_text`` checks that it appears once (so it is the top-level member, not a nested one).
_PLACEHOLDER = "seal:" + "-" * 59
_PLACEHOLDER_MEMBER = f'"hash":"{_PLACEHOLDER}"'.encode()


def seal_text(event: Mapping[str, Any], prev_hash: str) -> tuple[dict[str, Any], str]:
    """``domain.events.seal_text``: the event sealed onto ``prev_hash`` and its canonical text,
    the same sealed event and the same text.

    The event is written once, with a placeholder for the hash: sorted keys put the "hash"
    member where the kept text has it, and without it (and its comma) the text is the one the
    hash covers; the digest then takes the placeholder's place. An event in which the
    placeholder member appears more than once (a nested "hash" holding it) is sealed by the
    domain's version, as is one orjson refuses."""
    sealed = dict(event)
    sealed.pop("hash", None)
    sealed["prev_hash"] = prev_hash
    sealed["hash"] = _PLACEHOLDER
    try:
        written = orjson.dumps(sealed, default=_refuse, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        written = b""
    at = written.find(_PLACEHOLDER_MEMBER)
    if at < 0 or written.find(_PLACEHOLDER_MEMBER, at + 1) >= 0:
        del sealed["hash"]
        return events.seal_text(sealed, prev_hash)
    after = at + len(_PLACEHOLDER_MEMBER)
    digest = hashlib.sha256(prev_hash.encode())
    view = memoryview(written)
    if written[at - 1] == 0x2C:  # a comma: the members before "hash" end there
        digest.update(view[: at - 1])
        digest.update(view[after:])
    else:  # "hash" is the first member: its comma, if any, is after it
        digest.update(view[:at])
        digest.update(view[after + 1 :] if written[after] == 0x2C else view[after:])
    sealed["hash"] = hexdigest = digest.hexdigest()
    return sealed, f'{written[:at].decode()}"hash":"{hexdigest}"{written[after:].decode()}'


#: 19 digits in a row: maybe an integer past 64 bits, which orjson reads as a float.
_LONG_NUMBER = re.compile("[0-9]{19}")


def loads(text: str) -> Any:
    """``json.loads`` for the JSON this program wrote (events, lots, receipts), fast.

    orjson reads an integer past 64 bits as a float, and refuses what the standard library
    reads beyond JSON (NaN): a text with 19 digits in a row (a long number, or only a long
    card number in a text) or that orjson refuses is read by the standard library."""
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)  # the standard library's reading, and its error
