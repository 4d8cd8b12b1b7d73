"""What goes on a receipt and in which order, once, for the text, PNG and ESC/POS renderers.

``build_rows`` turns a ``Receipt`` into width-free rows (a label on the left, an amount on the
right); ``fit_row`` breaks one row into physical lines for a given width and a given way of
measuring text (characters for text and ESC/POS, pixels for the PNG). Keeping both here is what
makes the three outputs show the same receipt.

Layout rules: amounts are never cut (a number too long for its line goes on a line of its own,
right-aligned, and is broken only if it is wider than the paper); product names wrap to at most two
lines and are shortened with "..." after that; no line is ever wider than the width it is fitted to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from loyalty_pos.domain.events import CONTROL_CHARACTER
from loyalty_pos.receipts.model import Receipt, ReceiptLine

#: Currencies without minor units; every other code is shown with 2 decimals.
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF", "HUF"})
ELLIPSIS = "..."
#: Product names longer than this many lines are shortened.
NAME_MAX_LINES = 2

Measure = Callable[[str], float]


@dataclass(frozen=True, slots=True)
class Row:
    """One logical receipt row before it is fitted to a width.

    Attributes:
        left: Label or text (wrapped when too long).
        right: Amount shown right-aligned on the row's last line ("" for none).
        kind: "text" (left/right), "center" (centered text), "rule" (a dashed line), "gap".
        strong: Printed bold / larger: store name, totals.
        indent: Columns of indentation for ``left`` (breakdown and quantity lines).
        max_lines: Lines ``left`` may take before it is shortened (None = no limit).
    """

    left: str = ""
    right: str = ""
    kind: Literal["text", "center", "rule", "gap"] = "text"
    strong: bool = False
    indent: int = 0
    max_lines: int | None = None


RULE = Row(kind="rule")
GAP = Row(kind="gap")


def money(amount: Decimal, currency: str) -> str:
    """An amount with the currency's number of decimals, e.g. ``57.50`` (no grouping)."""
    places = 0 if currency in _ZERO_DECIMAL_CURRENCIES else 2
    return f"{amount:.{places}f}"


def _qty(qty: int | Decimal) -> str:
    return str(qty) if isinstance(qty, int) else f"{qty:f}"  # "0.350" kg, never "3.5E-1"


def _center(text: str, strong: bool = False) -> Row:
    return Row(text, kind="center", strong=strong)


def _line_rows(line: ReceiptLine, cur: str) -> list[Row]:
    if line.qty == 1 and not line.free_units:
        return [Row(line.name, money(line.line_total, cur), max_lines=NAME_MAX_LINES)]
    detail = f"{_qty(line.qty)} x {money(line.unit_price, cur)}"
    if line.free_units:
        detail += f", {line.free_units} free"
    return [
        Row(line.name, max_lines=NAME_MAX_LINES),
        Row(detail, money(line.line_total, cur), indent=2),
    ]


def build_rows(r: Receipt) -> list[Row]:
    """The receipt's rows in print order (the barcode and QR code follow them)."""
    cur = r.currency
    refund = r.refund
    rows = [_center(r.store_name, strong=True), *(_center(a) for a in r.store_address), GAP]
    if refund is not None:
        rows += [_center("REFUND", strong=True), GAP]
    if r.copy:
        rows += [_center("COPY", strong=True), GAP]
    rows.append(Row("Receipt", r.receipt_id))
    rows.append(Row("Date", r.occurred_at.strftime("%Y-%m-%d %H:%M")))
    rows.append(Row(f"Terminal {r.terminal_id}", f"Cashier {r.cashier}" if r.cashier else ""))
    if refund is not None:
        rows.append(Row("Refund of receipt", refund.original_receipt_id))
    rows.append(RULE)
    for line in r.lines:
        rows += _line_rows(line, cur)
    rows.append(RULE)

    if refund is None:
        rows.append(Row(f"Total {cur}", money(r.total, cur), strong=True))
        if r.points_redeemed or r.points_value:
            rows.append(
                Row(f"Paid with {r.points_redeemed} points", f"-{money(r.points_value, cur)}")
            )
            rows.append(Row(f"Amount due {cur}", money(r.due, cur), strong=True))
        if r.discount:  # already out of the total: after what is paid, never taken off again
            rows.append(Row("Free items saved", money(r.discount, cur)))
    else:
        if r.discount:  # units the sale gave free: not paid, so not paid back
            rows.append(Row("Free in the sale, not paid", f"-{money(r.discount, cur)}"))
        if refund.held_back:  # whole points: the rest comes with the last refund
            rows.append(Row("Back with the last return", f"-{money(refund.held_back, cur)}"))
        if refund.made_up:
            rows.append(Row("Held back at an earlier return", f"+{money(refund.made_up, cur)}"))
        rows.append(Row(f"Returned goods {cur}", money(r.total, cur)))
        if r.points_value:
            label = f"Back as {refund.points_restored} points"
            rows.append(Row(label, f"-{money(r.points_value, cur)}"))
        rows.append(Row(f"Money back {cur}", money(r.due, cur), strong=True))

    m = r.member
    if m is not None:
        rows += [RULE, Row("Member card", m.card_masked)]
        if refund is None or m.points_earned:
            rows.append(Row("Points earned", f"+{m.points_earned}"))
        rows += [Row(b.label, str(b.points), indent=2) for b in m.breakdown]
        if r.points_redeemed:
            rows.append(Row("Points paid", f"-{r.points_redeemed}"))
        if refund is not None:
            rows.append(Row("Points taken back", f"-{refund.points_reversed}"))
            rows.append(Row("Points given back", f"+{refund.points_restored}"))
        rows += [Row("Points balance", str(m.new_balance), strong=True), Row("Tier", m.tier)]
        if m.next_tier and m.spend_to_next_tier is not None:
            spend = money(m.spend_to_next_tier, cur)
            rows.append(Row(f"Spend {spend} {cur} more to reach {m.next_tier}"))
        if m.next_expiry is not None:
            e = m.next_expiry
            rows.append(Row(f"{e.points} points expire on {e.on.isoformat()}"))
        for card in m.punch_cards:
            rows += [Row(card.name), Row(card.progress, indent=2)]
    elif refund is not None and (refund.points_reversed or refund.points_restored):
        rows += [
            RULE,
            Row("Points taken back", f"-{refund.points_reversed}"),
            Row("Points given back", f"+{refund.points_restored}"),
        ]

    if r.footer:
        rows += [GAP, *(_center(f) for f in r.footer)]
    return rows


def wrap(text: str, limit: float, measure: Measure) -> list[str]:
    """Greedy word wrap by ``measure``; a word wider than ``limit`` is broken where it must be."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= limit:
            current = candidate
            continue
        if current:
            lines.append(current)
        while measure(word) > limit and len(word) > 1:
            cut = _longest_prefix(word, limit, measure)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines or [""]


def _longest_prefix(word: str, limit: float, measure: Measure) -> int:
    """Length of the longest prefix of ``word`` within ``limit`` (at least 1 character)."""
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(word[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _shorten(lines: list[str], max_lines: int, limit: float, measure: Measure) -> list[str]:
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = f"{kept[-1]} {lines[max_lines]}"
    while last and measure(last + ELLIPSIS) > limit:
        last = last[:-1]
    kept[-1] = last.rstrip() + ELLIPSIS
    return kept


def printable(text: str) -> str:
    """``text`` with each control character as a space. The terminal refuses such characters
    where text comes in (imports, enrolment, the program, its config); this keeps a name stored
    before that, or from elsewhere, from sending a command to the printer or breaking a line."""
    return CONTROL_CHARACTER.sub(" ", text)


def fit_row(row: Row, width: float, measure: Measure) -> list[tuple[str, str]]:
    """Break ``row`` into physical lines ``(left, right)`` that fit ``width``.

    ``measure`` gives a string's width in the same unit as ``width`` (``len`` for characters).
    The caller draws ``left`` at the left edge (or centered, for "center" rows) and ``right``
    against the right edge; the pair always fits: measure(left) + measure(" ") + measure(right)
    <= width when both are non-empty.
    """
    if row.kind == "gap":
        return [("", "")]
    if row.kind == "rule":
        return [("", "")]  # renderers draw the rule themselves, full width
    pad = " " * row.indent
    limit = width - measure(pad)
    lefts = wrap(printable(row.left), limit, measure)
    if row.max_lines is not None:
        lefts = _shorten(lefts, row.max_lines, limit, measure)
    lines = [(pad + left if left else "", "") for left in lefts]
    if not row.right:
        return lines
    right = printable(row.right)
    last = lines[-1][0]
    if not last or measure(last) + measure(" ") + measure(right) <= width:
        if measure(right) <= width:
            lines[-1] = (last, right)
            return lines
    elif measure(right) <= width:
        return [*lines, ("", right)]
    # An amount wider than the paper: break it, never cut it.
    if not last:
        lines.pop()
    return lines + [("", part) for part in wrap(right, width, measure)]
