"""Cards given to the ledger in small letters (a members file, an admin's link) are kept as a
till keeps the card it scans, so a till that pulls them finds the member by the card; a card
that is another one in other capitals is refused as that card, and the ledger stays as it was."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from ledger_helpers import LedgerServer
from test_terminal_sync import ROOT, ledger_cli, till

from loyalty_pos.checkout import Terminal
from loyalty_pos.cli import main as till_main
from loyalty_pos.ledger.cli import main as ledger_main
from loyalty_pos.sync import sync

HEADER = "member_id,card,name,birthday,email\n"


def till_json(home: Path, *args: str) -> tuple[int, dict]:
    """``loyalty-pos --home HOME --json ARGS`` in this process: its exit code and its JSON."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = till_main(["--home", str(home), "--json", *args])
    return code, json.loads(out.getvalue() or err.getvalue())


def refused_import(server: LedgerServer, path: Path) -> str:
    """``loyalty-ledger members import PATH`` refused: what it said, the ledger unchanged."""
    before = server.top()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = ledger_main(["members", "import", str(path), "--db", server.db_url])
    assert code == 2, out.getvalue()
    assert server.top() == before
    return out.getvalue()


def import_members(server: LedgerServer, path: Path, rows: str) -> None:
    path.write_text(HEADER + rows)
    ledger_cli(server, "members", "import", str(path))


def pulled_till(server: LedgerServer, home: Path) -> Terminal:
    """A till of ``server`` that has pulled its members."""
    t = till(server, home, "T1")
    sync(t)
    return t


def member_scanned(t: Terminal, card: str) -> str:
    """The member ``loyalty-pos balance CARD`` finds at ``t``."""
    code, found = till_json(t.home, "balance", card)
    assert code == 0, found
    return str(found["member_id"])


@pytest.fixture
def program_set(fresh_ledger: LedgerServer) -> LedgerServer:
    ledger_cli(fresh_ledger, "program", "set", str(ROOT / "config/program.example.toml"))
    return fresh_ledger


def test_cards_imported_at_the_ledger_in_small_letters_are_found_as_the_till_scans_them(
    program_set: LedgerServer, tmp_path: Path
) -> None:
    rows = "M1,lc00100037,Ben,,\nM2,04a1b2c3d4e500,Anna,,\n"
    import_members(program_set, tmp_path / "members.csv", rows)
    t = pulled_till(program_set, tmp_path / "t1")
    assert member_scanned(t, "LC00100037") == "M1"
    assert member_scanned(t, "04A1B2C3D4E500") == "M2"
    code, sale = till_json(t.home, "checkout", "--card", "LC00100037", "--item", "COFFEE")
    assert code == 0 and sale["member_id"] == "M1" and sale["points_earned"] > 0
    sync(t)
    at_ledger = program_set.admin.get("/v1/cards/LC00100037").json()
    assert at_ledger["member_id"] == "M1" and at_ledger["balance"] == sale["balance"]


def test_a_card_linked_by_an_admin_in_small_letters_is_found_as_the_till_scans_it(
    program_set: LedgerServer, tmp_path: Path
) -> None:
    import_members(program_set, tmp_path / "members.csv", "M1,,Ben,,\n")
    linked = program_set.admin.post("/v1/members/M1/cards", json={"card": "lc00100040"})
    assert linked.status_code == 201 and linked.json()["card"] == "LC00100040"
    assert member_scanned(pulled_till(program_set, tmp_path / "t1"), "LC00100040") == "M1"


def test_two_rows_whose_cards_differ_only_in_case_are_one_card_and_nothing_is_imported(
    program_set: LedgerServer, tmp_path: Path
) -> None:
    members = tmp_path / "members.csv"
    members.write_text(HEADER + "M1,LC00100037,Ben,,\nM2,,Anna,,\nM3,lc00100037,Cid,,\n")
    said = refused_import(program_set, members)
    assert "line 4: card …0037 is also on line 2 (in another case: the same card)" in said
    assert program_set.admin.get("/v1/members/M1").status_code == 404


def test_a_card_that_is_one_in_the_ledger_in_another_case_is_refused(
    program_set: LedgerServer, tmp_path: Path
) -> None:
    import_members(program_set, tmp_path / "first.csv", "M1,LC00100037,Ben,,\n")
    # A card an earlier release kept in small letters, as a till or a file gave it.
    terminal = program_set.add_terminal()
    terminal.push([terminal.journal.enroll("M2", "lc00100099")])

    again = tmp_path / "again.csv"
    again.write_text(HEADER + "M3,,Cid,,\nM4,lc00100037,Dan,,\nM5,LC00100099,Eve,,\n")
    said = refused_import(program_set, again)
    assert "line 3: card …0037 already belongs to member M1" in said
    assert "line 4: card …0099 already belongs to member M2 (in another case" in said
    assert program_set.admin.get("/v1/members/M3").status_code == 404

    before = program_set.top()
    linked = program_set.admin.post("/v1/members/M1/cards", json={"card": "LC00100099"})
    assert linked.status_code == 409 and "already belongs to member M2" in linked.text
    assert program_set.top() == before
    # Linked to its own member in capitals, the card is one a till finds when scanned.
    linked = program_set.admin.post("/v1/members/M2/cards", json={"card": "LC00100099"})
    assert linked.status_code == 201, linked.text
    assert member_scanned(pulled_till(program_set, tmp_path / "t1"), "LC00100099") == "M2"


def test_an_admin_finds_and_blocks_a_card_typed_in_small_letters(
    program_set: LedgerServer, tmp_path: Path
) -> None:
    """An admin typing the card from a customer's call, in small letters, finds and blocks the
    card the ledger keeps in capitals; the block reaches a till as the card it scans."""
    import_members(program_set, tmp_path / "members.csv", "M1,LC00100037,Ben,,\n")
    t = pulled_till(program_set, tmp_path / "t1")
    found = program_set.admin.get("/v1/cards/lc00100037")
    assert found.status_code == 200 and found.json()["member_id"] == "M1"
    blocked = program_set.admin.post("/v1/cards/lc00100037/block")
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["card"] == "LC00100037"
    again = program_set.admin.post("/v1/cards/LC00100037/block")
    assert again.status_code == 409 and "already blocked" in again.text
    sync(t)
    code, said = till_json(t.home, "balance", "LC00100037")
    assert code == 2 and said["reason"] == "blocked", said
