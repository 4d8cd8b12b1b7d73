"""The same members file at the ledger (`loyalty-ledger members import`) and at a standalone till
(`loyalty-pos members import`): a store owner imports one CSV at both, so both take or refuse
it alike, say it in the same words, name the same line, and a refused file leaves both as they
were."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from loyalty_pos.cli import main as till_main
from loyalty_pos.ledger.cli import main as ledger_main
from loyalty_pos.ledger.store import LedgerStore

PROGRAM = Path(__file__).with_name("program.toml")
HEADER = "member_id,card,name,birthday,email\n"
COLUMNS = "(member_id,card,name,birthday,email)"


@pytest.fixture
def till_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A standalone till's home, set up by `loyalty-pos init`."""
    home = tmp_path / "till"
    init = ["init", "--terminal-id", "T1", "--program", str(PROGRAM), "--manager-pin", "2468"]
    assert till_main(["--home", str(home), *init]) == 0
    capsys.readouterr()
    return home


def till_members(home: Path) -> list[tuple[str, ...]]:
    """The till's members with their cards, as its cache holds them."""
    with sqlite3.connect(home / "terminal.db") as conn:
        found = conn.execute(
            "SELECT m.member_id, m.name, coalesce(m.birthday, ''), m.email, c.card FROM members m "
            "LEFT JOIN cards c USING (member_id) ORDER BY m.member_id, c.card"
        ).fetchall()
    conn.close()
    return [tuple(r) for r in found]


def imported_at_both(
    db_url: str, home: Path, members: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int, str], tuple[int, str]]:
    """`loyalty-ledger members import` then `loyalty-pos members import` of ``members``: each
    one's exit code and what it said (stdout and stderr)."""
    ledger = ledger_main(["members", "import", str(members), "--db", db_url])
    said = capsys.readouterr()
    till = till_main(["--home", str(home), "members", "import", str(members)])
    till_said = capsys.readouterr()
    return (ledger, said.out + said.err), (till, till_said.out + till_said.err)


def refused_at_both(
    db_url: str, home: Path, members: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """Both imports of ``members`` refused (exit 2), both left as they were: what each said."""
    before = till_members(home)
    (ledger, ledger_said), (till, till_said) = imported_at_both(db_url, home, members, capsys)
    assert (ledger, till) == (2, 2), (ledger_said, till_said)
    assert "Traceback" not in ledger_said + till_said
    assert ledger_events(db_url) == 0  # nothing imported
    assert till_members(home) == before
    return ledger_said, till_said


def ledger_events(db_url: str) -> int:
    store = LedgerStore.open(db_url)
    try:
        return int(store.audit()["events"])
    finally:
        store.close()


def test_a_row_with_cells_too_few_is_refused_at_both_naming_its_line(
    db_url: str, till_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: `M2,LC91010002,Bob` (its empty birthday and email left out) was refused by the till
    and taken by the ledger, its missing cells read as empty."""
    members = tmp_path / "members.csv"
    members.write_text(HEADER + "M1,LC91010001,Ann,,\nM2,LC91010002,Bob\n")
    said = (
        f"line 3: 3 cells where the file has 5 columns {COLUMNS}: every row has a cell for "
        "each column, an empty one as nothing between its commas (with the last 2 empty: "
        "M2,LC91010002,Bob,,)"
    )
    ledger_said, till_said = refused_at_both(db_url, till_home, members, capsys)
    assert f"{members}: {said}" in ledger_said and "1 problem(s), nothing imported" in ledger_said
    assert f"  - {said}\n" in till_said


def test_a_row_whose_cell_holds_a_line_break_is_named_by_the_line_it_starts_on(
    db_url: str, till_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spreadsheet shows the row `"Ann<line break>Smith"` is on as one row, its first line's
    number: the ledger named the line the row ends on, the till the line it starts on."""
    members = tmp_path / "members.csv"
    members.write_text(HEADER + 'M1,LC91010001,"Ann\nSmith",,\nM2,LC91010002,Bob,,\n')
    said = "line 2: name holds a control character (U+000A at position 4)"
    ledger_said, till_said = refused_at_both(db_url, till_home, members, capsys)
    assert said in ledger_said and said in till_said
    assert "line 3" not in ledger_said + till_said


def test_columns_in_another_order_are_taken_at_both(
    db_url: str, till_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spreadsheet's columns moved about (email before birthday, card first): the ledger took
    the file and the till refused it, wanting the columns in the order of its example."""
    members = tmp_path / "members.csv"
    members.write_text(
        "card,member_id,name,email,birthday\nLC91010001,M1,Ann,ann@example.org,1990-01-31\n"
    )
    (ledger, ledger_said), (till, till_said) = imported_at_both(db_url, till_home, members, capsys)
    assert (ledger, till) == (0, 0), (ledger_said, till_said)
    assert till_members(till_home) == [("M1", "Ann", "1990-01-31", "ann@example.org", "LC91010001")]
    store = LedgerStore.open(db_url)
    try:
        at_ledger = store.card_snapshot("LC91010001")
    finally:
        store.close()
    assert at_ledger["member_id"] == "M1"


def test_a_file_without_a_column_is_refused_in_the_same_words_at_both(
    db_url: str, till_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = tmp_path / "members.csv"
    members.write_text("member_id,name,card,email,phone\nM1,Ann,LC91010001,,\n")
    said = (
        "line 1: the columns must be member_id,card,name,birthday,email, in any order "
        "(missing birthday) (unknown phone)"
    )
    ledger_said, till_said = refused_at_both(db_url, till_home, members, capsys)
    assert f"{members}: {said}" in ledger_said and f"  - {said}\n" in till_said


def test_a_card_on_two_rows_is_refused_at_both_whatever_the_members(
    db_url: str, till_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The till took a card on two rows of one member, and named one line of a card given to
    two members ("card ... is given to two members"); both now name both lines."""
    members = tmp_path / "members.csv"
    members.write_text(
        HEADER + "N1,LC91010001,Nina,,\nN1,LC91010001,Nina,,\n"
        "N2,LC91010002,Bob,,\nN3,LC91010002,Cid,,\n"
    )
    ledger_said, till_said = refused_at_both(db_url, till_home, members, capsys)
    assert "line 3: card LC91010001 is also on line 2" in till_said
    assert "line 5: card LC91010002 is also on line 4" in till_said
    assert "line 3: card …0001 is also on line 2" in ledger_said
    assert "line 5: card …0002 is also on line 4" in ledger_said
