"""Card ids are identifiers, not secrets; still, logs and receipts show only their last 4 characters."""

from __future__ import annotations

import string

_HEX_DIGITS = frozenset(string.hexdigits)
_CAPITALS = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)

#: A masked card shows at most this many stars: enough to tell it is masked, and a mistyped
#: kilobyte of text does not fill a cashier's screen.
MASK_STARS = 12


def normal_card(card: str) -> str:
    """A card id as the terminal keeps it: without the blanks around it, and a number of hex
    digits only in upper case, as a PC/SC reader gives a UID (DESIGN §3), so that a UID typed as
    ``04a1b2c3d4e500`` is the card read as ``04A1B2C3D4E500``.

    >>> normal_card(" 04a1b2c3d4e500 "), normal_card("lc00100037")
    ('04A1B2C3D4E500', 'lc00100037')
    """
    card = card.strip()
    return card.upper() if card and _HEX_DIGITS.issuperset(card) else card


def card_in_capitals(card: str) -> str:
    """A card id as the ledger keeps a card it is given (a members file, an admin's link):
    without the blanks around it, its letters a-z in capitals. Card numbers are printed and
    encoded in capitals, and a till keeps the card it scans so (``normal_card``, and
    ``Terminal.card_form`` for ``LC...``); the ledger has no card pattern to ask which form is
    the card. Only ASCII letters: a card is a barcode or a UID, and ``"ß".upper()`` is two
    letters.

    >>> card_in_capitals(" lc00100037 "), card_in_capitals("04a1b2c3d4e500")
    ('LC00100037', '04A1B2C3D4E500')
    """
    return card.strip().translate(_CAPITALS)


def mask_card(card: str) -> str:
    """Hide all but the last 4 characters of a card id (DESIGN §3).

    >>> mask_card("04A1B2C3D4E5F6")
    '**********E5F6'
    """
    card = card.strip()
    return "*" * min(MASK_STARS, max(0, len(card) - 4)) + card[-4:]
