"""GTIN (EAN-8, UPC-A, EAN-13) check digits: the one place this project verifies them."""

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
