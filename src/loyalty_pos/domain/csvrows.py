"""How a CSV import reads its file and what it says of a header or a row that does not fit: one
reading for the till's imports (members, catalog) and the ledger's members import, since a
store owner imports the same members file at both.

The columns may come in any order (a spreadsheet's columns are moved about easily); each is
named once. A row is named by the line it starts on: a quoted cell may hold a line break, and a
spreadsheet shows the row as the one it starts on.

A cell too many is nearly always a comma that was meant to be inside a cell: a price written
with a decimal comma (``2,49``, a spreadsheet set to a comma as its decimal mark) or a name
written ``Smith, Anna`` without the quotes a spreadsheet puts around it. A cell too few is a
row typed by hand that leaves out its empty cells."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Sequence

_WHOLE = re.compile(r"[+-]?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")


#: A members file's columns, at the till and at the ledger.
MEMBER_COLUMNS = ("member_id", "card", "name", "birthday", "email")

#: A file's rows: the line each starts on, and its cells by column, without blanks around them.
Rows = list[tuple[int, dict[str, str]]]


def read_rows(
    text: str, columns: Sequence[str], amounts: Collection[str] = ()
) -> tuple[Rows, list[str]]:
    """The rows of the CSV ``text`` whose header names ``columns``, and the problems of the
    file, each ``line N: ...``: a header that does not name the columns (then no rows), or rows
    whose cells do not fit them (those rows left out). ``amounts`` as for ``cells_problem``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        # ``member_id, card, name``: the blanks around a column's name are not part of it.
        header = [c.strip() for c in next(reader, [])]
        if problem := _header_problem(header, columns):
            return [], [f"line 1: {problem}"]
        rows: Rows = []
        problems: list[str] = []
        while True:
            line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                return rows, problems
            if not cells:
                continue  # a blank line
            if problem := cells_problem(cells, header, amounts):
                problems.append(f"line {line}: {problem}")
            else:
                rows.append((line, dict(zip(header, (c.strip() for c in cells), strict=True))))
    except csv.Error as e:
        return [], [f"line {reader.line_num}: not a CSV file ({e})"]


def _header_problem(header: Sequence[str], columns: Sequence[str]) -> str | None:
    """What is wrong with a file's ``header`` for ``columns``, or None."""
    wanted = f"the columns must be {','.join(columns)}"
    if len(header) == 1 and ";" in header[0]:  # a spreadsheet's export
        return f"{wanted}, separated by commas (this file separates them with ';')"
    missing = [c for c in columns if c not in header]
    unknown = [c for c in header if c not in columns]
    twice = sorted({c for c in header if c in columns and header.count(c) > 1})
    if not (missing or unknown or twice):
        return None
    return (
        f"{wanted}, in any order"
        + (f" (missing {', '.join(missing)})" if missing else "")
        + (f" (unknown {', '.join(unknown)})" if unknown else "")
        + (f" (named twice: {', '.join(twice)})" if twice else "")
    )


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
