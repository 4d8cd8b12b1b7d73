"""CSV imports of members and the catalog: the whole file or none of it, every problem by line."""

from __future__ import annotations

import difflib
from pathlib import Path

from .checkout import OPEN_LINE, Terminal, product_barcode, unreadable_card
from .domain.csvrows import MEMBER_COLUMNS, Rows, read_rows
from .domain.errors import ConfigError, Refused
from .domain.events import (
    MAX_ID,
    MAX_TEXT,
    QUANTITY_GIVEN,
    birthday_problem,
    email_problem,
    is_receipt_id,
    text_problem,
)
from .domain.gtin import gtin_check_digit_ok
from .domain.money import parse_money, to_minor
from .private import unreadable

CATALOG_COLUMNS = ("sku", "ean", "name", "price", "category")


def _rows(path: Path, columns: tuple[str, ...], amounts: tuple[str, ...] = ()) -> Rows:
    """The file's rows as ``read_rows`` reads them (the ledger's members import reads its file
    the same way); any problem refuses the file, each named (``amounts``: the columns of
    money, whose decimal comma is the likely cause of a cell too many)."""
    try:
        text = _utf8_text(path, path.read_bytes())
    except OSError as e:
        raise unreadable(path, e) from e
    rows, problems = read_rows(text, columns, amounts)
    if problems:
        raise ConfigError(str(path), problems)
    return rows


def _utf8_text(path: Path, data: bytes) -> str:
    """``data`` as UTF-8, with or without a byte order mark. A spreadsheet's plain "CSV" is in
    the machine's code page (Windows-1252: "Chloé" is ``Chlo\xe9``): refused naming the line
    and what comes before the byte, not by its offset in the file."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        before = data[start : e.start].decode("utf-8", "replace").lstrip("\ufeff")[-40:]
        raise ConfigError(
            str(path),
            [
                f"line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} after {before!r}): "
                'save the file as CSV UTF-8 (a spreadsheet\'s "CSV UTF-8" type)'
            ],
        ) from None


def _bad_text(line: int, row: dict[str, str], limits: dict[str, int]) -> list[str]:
    found = (text_problem(row[column], limit, column) for column, limit in limits.items())
    return [f"line {line}: {problem}" for problem in found if problem]


def import_members(t: Terminal, path: Path) -> dict[str, int]:
    if t.config.ledger.configured:
        # Members imported here would be unknown to the ledger, which would hold back every
        # sale to them: at a till with a ledger, members come from the ledger's pull.
        raise Refused(
            "This terminal takes its members from the ledger: import them there "
            "(`loyalty-ledger members import`); the terminal gets them at its next sync. "
            "Nothing was imported."
        )
    rows = _rows(path, MEMBER_COLUMNS)
    for _, row in rows:
        # As enrolment keeps it: ``lc00200011`` is the card scanned as LC00200011.
        row["card"] = t.card_form(row["card"])
    today = t.now().date()
    problems: list[str] = []
    seen_cards: dict[str, int] = {}  # the line each card is first on
    # A member with several cards has a row per card; the rows must agree on who it is.
    seen_members: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in rows:
        first_line, first_row = seen_members.setdefault(row["member_id"], (line, row))
        differ = [c for c in ("name", "birthday", "email") if row[c] != first_row[c]]
        if not row["member_id"]:
            problems.append(f"line {line}: member_id is empty")
        elif differ:
            problems.append(
                f"line {line}: member {row['member_id']} is also on line {first_line} "
                f"with another {' and '.join(differ)}"
            )
        if not row["card"]:
            problems.append(f"line {line}: card is empty")
        elif problem := unreadable_card(t, row["card"]):
            problems.append(f"line {line}: {problem}")
        elif problem := product_barcode(t, row["card"]):  # a new card typed in a file
            problems.append(f"line {line}: {problem[:-1]}")
        elif (first := seen_cards.setdefault(row["card"], line)) != line:
            problems.append(f"line {line}: card {row['card']} is also on line {first}")
        if row["birthday"] and (problem := birthday_problem(row["birthday"], today)):
            problems.append(f"line {line}: {problem}")
        email = row["email"]
        if (
            email
            and not text_problem(email, MAX_TEXT, "email")
            and (problem := email_problem(email))
        ):
            problems.append(f"line {line}: {problem}")
        problems += _bad_text(
            line, row, {"member_id": MAX_ID, "card": MAX_ID, "name": MAX_TEXT, "email": MAX_TEXT}
        )
    for line, row in rows:
        existing = t.store.card(row["card"]) if row["card"] else None
        if existing is not None and existing["member_id"] != row["member_id"]:
            problems.append(
                f"line {line}: card {row['card']} already belongs to member {existing['member_id']}"
            )
    if problems:
        raise ConfigError(str(path), problems)
    with t.store.transaction() as conn:
        for _, row in rows:
            conn.execute(
                "INSERT INTO members (member_id, name, email, birthday) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(member_id) DO UPDATE SET name = excluded.name, "
                "email = excluded.email, birthday = excluded.birthday",
                (row["member_id"], row["name"], row["email"], row["birthday"] or None),
            )
            conn.execute(
                "INSERT OR IGNORE INTO cards (card, member_id) VALUES (?, ?)",
                (row["card"], row["member_id"]),
            )
    return {"imported": len(rows)}


def _unsellable_sku(sku: str) -> str | None:
    """Why a checkout could never sell ``sku`` as itself, or None."""
    if sku.startswith(OPEN_LINE):
        return f"starts with {OPEN_LINE}, which marks a free-amount line"
    if ":" in sku:
        return "holds ':', which the checkout's --item SKU:QTY reads as the quantity"
    if found := QUANTITY_GIVEN.match(sku):
        return (
            f"starts with {found[0].strip()!r}, which the checkout app reads as a quantity "
            "(3*COFFEE is 3 of COFFEE)"
        )
    if is_receipt_id(sku):
        return "looks like a receipt id (a scan of it would open a refund)"
    return None


def _misspelt_category(category: str, named: set[str]) -> str | None:
    """A category one letter or two off (or in another case than) one the program excludes or
    promotes: the program matches categories exactly, so `tobaco` would earn the points that
    `tobacco` excludes, on every sale of the item."""
    if category in named:
        return None
    by_fold = {n.casefold(): n for n in named}
    near = difflib.get_close_matches(category.casefold(), list(by_fold), 1, 0.8)
    if not near:
        return None
    return (
        f"category {category!r} is not the program's {by_fold[near[0]]!r} (the program "
        "excludes or promotes that one, and matches a category as it is spelt): write it so"
    )


def import_catalog(t: Terminal, path: Path) -> dict[str, int]:
    rows = _rows(path, CATALOG_COLUMNS, amounts=("price",))
    currency = t.program.currency
    problems: list[str] = []
    parsed = []
    skus: set[str] = set()
    eans: set[str] = set()
    program = t.program
    named = set(program.earn.excluded_categories) | {
        p.category for p in program.promotions if p.category
    }
    for line, row in rows:
        if not row["sku"]:
            problems.append(f"line {line}: sku is empty")
        elif row["sku"] in skus:
            problems.append(f"line {line}: sku {row['sku']} appears twice")
        elif problem := _unsellable_sku(row["sku"]):
            problems.append(f"line {line}: sku {row['sku']} {problem}")
        skus.add(row["sku"])
        for column in ("sku", "ean"):
            if row[column] and t.store.card(row[column]) is not None:
                problems.append(
                    f"line {line}: {column} {row[column]} is a member's card here "
                    "(a scan of it would add the item, not the member)"
                )
        if row["ean"]:
            if not gtin_check_digit_ok(row["ean"]):
                problems.append(f"line {line}: ean {row['ean']} has a wrong check digit or length")
            elif row["ean"] in eans:
                problems.append(f"line {line}: ean {row['ean']} appears twice")
            eans.add(row["ean"])
        if not row["name"]:
            problems.append(f"line {line}: name is empty")
        if not row["category"]:
            problems.append(f"line {line}: category is empty")
        elif problem := _misspelt_category(row["category"], named):
            problems.append(f"line {line}: {problem}")
        problems += _bad_text(line, row, {"sku": MAX_ID, "name": MAX_TEXT, "category": MAX_TEXT})
        try:
            price = parse_money(row["price"], currency, "price")
            if price < 0:
                problems.append(f"line {line}: price must not be negative")
            parsed.append((row, to_minor(price, currency)))
        except Refused as e:
            problems.append(f"line {line}: {e}")
    for line, row in rows:
        # A scan looks a code up as a SKU first: an EAN that is another item's SKU sells that item.
        ean_holder = t.store.one("SELECT sku FROM catalog WHERE ean = ?", (row["sku"],))
        if ean_holder is not None and ean_holder["sku"] not in skus:
            problems.append(
                f"line {line}: sku {row['sku']} is the ean of sku {ean_holder['sku']} in the "
                "catalog (a scan of that item's barcode would sell this one)"
            )
        if not row["ean"]:
            continue
        if row["ean"] != row["sku"] and (
            row["ean"] in skus or t.store.one("SELECT 1 FROM catalog WHERE sku = ?", (row["ean"],))
        ):
            problems.append(
                f"line {line}: ean {row['ean']} is the sku of another item "
                "(a scan of this barcode would sell that item)"
            )
        # An EAN may move between SKUs of this file, not take one from a SKU the file leaves as is.
        holder = t.store.one("SELECT sku FROM catalog WHERE ean = ?", (row["ean"],))
        if holder is not None and holder["sku"] not in skus:
            problems.append(
                f"line {line}: ean {row['ean']} already belongs to sku {holder['sku']} "
                "in the catalog"
            )
    if problems:
        raise ConfigError(str(path), problems)
    with t.store.transaction() as conn:
        # The file's SKUs let go of their EANs first, so EANs may change hands among them.
        conn.executemany(
            "UPDATE catalog SET ean = NULL WHERE sku = ?", [(r["sku"],) for r, _ in parsed]
        )
        conn.executemany(
            "INSERT INTO catalog (sku, ean, name, price_minor, category) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(sku) DO UPDATE SET ean = excluded.ean, name = excluded.name, "
            "price_minor = excluded.price_minor, category = excluded.category",
            [(r["sku"], r["ean"] or None, r["name"], p, r["category"]) for r, p in parsed],
        )
    return {"imported": len(rows)}
