"""The receipt as plain monospaced text: for the screen preview, the journal and text printers.

A receipt printer's native font is monospaced and its line is a fixed number of characters: 32 on
58 mm paper, 42 or 48 on 80 mm paper (Font A / Font B). ``render_text`` lays the receipt out for
such a line; the ESC/POS printer module prints these same lines. A line is measured in columns as
a terminal shows it (``rich.cells.cell_len``): a Chinese or Japanese character or an emoji takes
two, a combining accent none, so the amounts of a line naming "抹茶ラテ" end at the right edge
like any other, on the screen and on a printer with a double-byte font.
"""

from __future__ import annotations

from rich.cells import cell_len

from loyalty_pos.receipts.layout import Row, build_rows, fit_row
from loyalty_pos.receipts.model import Receipt

MIN_WIDTH = 24
#: The widest line a receipt printer's font has (64: font B on 80 mm paper).
MAX_WIDTH = 64


def row_lines(row: Row, width: int) -> list[str]:
    """One layout row as text lines of at most ``width`` columns, without trailing spaces."""
    if row.kind == "rule":
        return ["-" * width]
    lines = []
    for left, right in fit_row(row, width, cell_len):
        if row.kind == "center":
            margin = width - cell_len(left)
            text = " " * (margin // 2 + (margin & width & 1)) + left  # as str.center places it
        elif right:
            text = left + " " * (width - cell_len(left) - cell_len(right)) + right
        else:
            text = left
        lines.append(text.rstrip())
    return lines


def render_lines(receipt: Receipt, width: int = 42) -> list[str]:
    """The receipt as a list of lines, each at most ``width`` columns."""
    if width < MIN_WIDTH:
        raise ValueError(f"a receipt needs at least {MIN_WIDTH} columns, got {width}")
    return [line for row in build_rows(receipt) for line in row_lines(row, width)]


def render_text(receipt: Receipt, width: int = 42) -> str:
    """The receipt as text, ``width`` columns wide (32 for 58 mm paper, 42 or 48 for 80 mm).

    Ends with the receipt id centered, where the printed receipt has its barcode.
    """
    lines = render_lines(receipt, width)
    lines += ["", *row_lines(Row(receipt.receipt_id, kind="center"), width)]
    return "\n".join(lines) + "\n"
