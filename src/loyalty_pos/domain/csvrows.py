"""What a CSV import says of a row whose cells do not fit the file's columns: one wording for
the till's imports (members, catalog) and the ledger's members import, each of which reads the
file its own way.

A cell too many is nearly always a comma that was meant to be inside a cell: a price written
with a decimal comma (``2,49``, a spreadsheet set to a comma as its decimal mark) or a name
written ``Smith, Anna`` without the quotes a spreadsheet puts around it. A cell too few is a
row typed by hand that leaves out its empty cells."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

_WHOLE = re.compile(r"[+-]?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")


def cells_problem(
    cells: Sequence[str], columns: Sequence[str], amounts: Collection[str] = ()
) -> str | None:
    """Why a row of ``cells`` does not fit ``columns``, and what is likely wrong with it, or None
    when it fits. ``amounts`` names the columns that hold an amount of money."""
    if len(cells) == len(columns):
        return None
    said = f"{len(cells)} cells where the file has {len(columns)} columns ({','.join(columns)})"
    if len(cells) < len(columns):
        missing = len(columns) - len(cells)
        padded = ",".join([*cells, *[""] * missing])
        return (
            f"{said}: every row has a cell for each column, an empty one as nothing between "
            f"its commas (with the last {missing} empty: {padded})"
        )
    if len(cells) == len(columns) + 1:
        for i, column in enumerate(columns):
            whole, part = cells[i].strip(), cells[i + 1].strip()
            if column in amounts and _WHOLE.fullmatch(whole) and _DIGITS.fullmatch(part):
                how = (
                    f"write it without a thousands separator ({whole}{part})"
                    if len(part) == 3
                    else f"write it with a point ({whole}.{part})"
                )
                return (
                    f"{said}: the {column} {whole},{part} is cut in two at its comma; {how} and "
                    "save the file again"
                )
    return (
        f"{said}: a cell holding a comma (a name such as Smith, Anna) goes in double quotes "
        '("Smith, Anna"), as a spreadsheet\'s "CSV UTF-8" writes it'
    )
