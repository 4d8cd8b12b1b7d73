"""GTIN (EAN-8, UPC-A, EAN-13, GTIN-14) check digits: the one place this project verifies them;
and which scanned codes are products' GTINs rather than member cards."""

from __future__ import annotations


def gtin_check_digit_ok(code: str) -> bool:
    """True when ``code`` is 8, 12, 13 or 14 digits with a correct GS1 check digit."""
    if not code.isascii() or not code.isdigit() or len(code) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in code]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def with_check_digit(body: str) -> str:
    """``body`` (7, 11, 12 or 13 digits) completed with its check digit."""
    digits = [int(c) for c in body]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return body + str((10 - total % 10) % 10)


#: AIM symbology identifiers (ISO/IEC 15424) of the barcodes that carry a product's GTIN:
#: EAN/UPC, ITF (a carton's ITF-14) and GS1 DataBar.
GTIN_SYMBOLOGIES = ("]E", "]I", "]e")


def is_product_barcode(code: str, symbology: str | None) -> bool:
    """Whether a scanned ``code`` is a product's GTIN by the scanner's own word: its AIM
    identifier names a symbology that carries GTINs and the code is a GTIN with a correct check
    digit. Such a code is never offered as a new member card, whatever ``terminal.card_pattern``
    allows (the default takes 14 hex digits, a 7-byte NFC UID, and so every GTIN-14); a card
    enrolled here still attaches (a store's own in-store EAN-13 cards)."""
    return symbology is not None and symbology[:2] in GTIN_SYMBOLOGIES and gtin_check_digit_ok(code)


def is_gtin14(code: str) -> bool:
    """14 digits with a correct GS1 check digit: an ITF-14 / GTIN-14 (a carton, a case)."""
    return len(code) == 14 and gtin_check_digit_ok(code)
