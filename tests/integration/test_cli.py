"""The headless CLI as a script or an existing POS would call it: real processes, real files."""

from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loyalty_pos.cli import build_parser, main
from tests.support.cli_help import assert_each_help_says_what_it_does

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-11-22T14:00:00+01:00"


def _command(module: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``loyalty-pos --home HOME ARGS``."""
    return _command("loyalty_pos.cli", home, *args)


def nightly(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The nightly job (``scripts/nightly-sync``) run for ``home``."""
    return _command("loyalty_pos.nightly", home, *args)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli") / "t1"
    program = str(ROOT / "config" / "program.example.toml")
    assert (
        run(
            home, "init", "--terminal-id", "T1", "--program", program, "--manager-pin", "2468"
        ).returncode
        == 0
    )
    assert run(home, "members", "import", str(ROOT / "config/demo/members.csv")).returncode == 0
    assert run(home, "catalog", "import", str(ROOT / "config/demo/catalog.csv")).returncode == 0
    return home


def journal_lines(home: Path) -> list[str]:
    out = run(home, "journal")
    assert out.returncode == 0
    return out.stdout.splitlines()


def test_checkout_balance_refund_verify_round_trip(home: Path) -> None:
    out = run(
        home,
        "checkout",
        "--card",
        "LC00100037",
        "--item",
        "MASCARA",
        "--item",
        "BOOK-NOVEL:2",
        "--line",
        "4.50:grocery",
        "--at",
        AT,
        "--json",
    )
    assert out.returncode == 0, out.stderr
    sale = json.loads(out.stdout)
    assert set(sale) >= {
        "receipt_id",
        "member_id",
        "total",
        "discount",
        "points_redeemed",
        "points_value",
        "due",
        "points_earned",
        "breakdown",
        "balance",
        "tier",
        "next_tier",
        "spend_to_next_tier",
    }
    assert sale["total"] == "45.45" and isinstance(sale["points_earned"], int)
    bal = json.loads(run(home, "balance", "LC00100037", "--at", AT, "--json").stdout)
    # A standalone till has no ledger to send its events to: nothing is pending.
    assert bal["balance"] == sale["balance"] and bal["pending_sync"] == 0
    assert {"points", "expires_at"} == set(bal["expiring"][0])
    out = run(
        home,
        "refund",
        sale["receipt_id"],
        "--item",
        "BOOK-NOVEL:1",
        "--at",
        AT,
        "--manager-pin",
        "2468",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)) >= {"points_reversed", "points_restored", "balance"}
    verify = json.loads(run(home, "verify", "--json").stdout)
    assert verify["ok"] and verify["events"] == len(journal_lines(home))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("checkout", "--card", "NOPE1234", "--item", "MILK"), "not_found"),
        (("checkout", "--item", "MILK:0"), "refused"),
        (("checkout", "--card", "", "--item", "MILK"), "refused"),
        (("checkout", "--card", " ", "--line", "10:grocery"), "refused"),
        (("card", "block", "", "--manager-pin", "2468"), "refused"),
        (("checkout", "--item", "MILK:99999999999999999999"), "refused"),
        (("checkout", "--item", "MILK:"), "refused"),  # an empty quantity is not 1
        (("checkout", "--item", "MILK:1_0"), "refused"),
        (("enroll", "--card", "LC77770001", "--birthday", "20000101"), "refused"),
        (("balance", " "), "refused"),
        (("sync",), "refused"),  # a standalone terminal: a usage error, not a fault
        (("checkout", "--line", "1e400:grocery"), "refused"),
        (("checkout", "--line", "1e2:grocery"), "refused"),  # an amount is written 100.00
        (("checkout", "--line", "1_000:grocery"), "refused"),
        (("checkout", "--line", "\u0661\u0662:grocery"), "refused"),  # Arabic-Indic 12
        (("checkout", "--line", "0.00:grocery"), "refused"),  # a free amount of nothing
        (("checkout", "--line", "5.00:tobaco"), "refused"),  # a typo would earn on tobacco
        (("checkout", "--card", "LC00100037", "--item", "MILK", "--redeem", "1_0"), "refused"),
        (("checkout", "--card", "LC00100037", "--item", "MILK", "--redeem", " 5"), "refused"),
        (("checkout", "--line", "99999999999.99:grocery", "--line", "1.00:grocery"), "refused"),
        (("checkout", "--item", "MILK", "--at", "yesterday"), "refused"),
        (("checkout", "--item", "MILK", "--at", "0001-01-01T00:00:00+14:00"), "refused"),
        (("balance", "LC00100037", "--at", "9999-12-31T23:59:59-12:00"), "refused"),
        (("report", "--date", "9999-12-31"), "refused"),
        (("report", "--date", "2026-11-22", "--to", "2026-11-01"), "refused"),
        (("receipt", "last", "--width", "5"), "refused"),
        # longer than the ledger takes: refused here, not rejected there after the sale
        (("enroll", "--card", "LC77770001", "--name", "n" * 201, "--email", "a@b.c"), "refused"),
        (("enroll", "--card", "C" * 65, "--name", "Zoe", "--email", "a@b.c"), "refused"),
        (("checkout", "--line", "1.00:" + "g" * 60), "refused"),
        (("adjust", "LC00100037", "10", "--reason", "r" * 501, "--manager-pin", "2468"), "refused"),
        (
            ("adjust", "LC00100037", str(10**12 + 1), "--reason", "x", "--manager-pin", "2468"),
            "refused",
        ),
        (
            ("checkout", "--card", "LC00100037", "--item", "MILK", "--redeem", "999999"),
            "redeem_refused",
        ),
        (("refund", "T1-999999", "--manager-pin", "2468"), "not_found"),
        (("adjust", "LC00100037", "10", "--reason", "x", "--manager-pin", "0000"), "auth"),
        # QA: over 4,300 digits int() refuses: an internal error (exit 1) instead of bad input
        (("checkout", "--item", "MILK:" + "9" * 5000), "refused"),
        (("checkout", "--card", "LC00100037", "--item", "MILK", "--redeem", "9" * 5000), "refused"),
        (
            ("refund", "T1-000001", "--item", "MILK:" + "9" * 5000, "--manager-pin", "2468"),
            "refused",
        ),
        (("adjust", "LC00100037", "9" * 5000, "--reason", "x", "--manager-pin", "2468"), "usage"),
        # QA: int() took these, and adjust recorded them; --redeem and the app refuse them
        (("adjust", "LC00100037", "1_000", "--reason", "x", "--manager-pin", "2468"), "usage"),
        (
            (
                "adjust",
                "LC00100037",
                "\u0661\u0660\u0660",
                "--reason",
                "x",
                "--manager-pin",
                "2468",
            ),
            "usage",
        ),
        (("adjust", "LC00100037", " 7 ", "--reason", "x", "--manager-pin", "2468"), "usage"),
        # QA: an empty date (a script's unset variable) gave today's report
        (("report", "--date", ""), "refused"),
        (("report", "--date", "2026-11-01", "--to", ""), "refused"),
        (("balance", "UNKNOWN99"), "not_found"),
    ],
)
def test_refusals_exit_2_with_json_on_stderr_and_record_nothing(
    home: Path, args: tuple[str, ...], error: str
) -> None:
    before = journal_lines(home)
    out = run(home, *args, "--json")
    assert out.returncode == 2
    assert out.stdout == ""
    assert json.loads(out.stderr)["error"] == error
    assert "Traceback" not in out.stderr
    assert len(out.stderr) < 400  # a long value is cut to its start in the message
    assert journal_lines(home) == before


def test_a_receipt_image_that_cannot_be_written_is_a_sentence(home: Path, tmp_path: Path) -> None:
    assert run(home, "checkout", "--item", "MILK", "--at", AT).returncode == 0
    for target in (tmp_path, tmp_path / "missing" / "r.png"):
        out = run(home, "receipt", "last", "--png", str(target))
        assert out.returncode == 2
        assert out.stderr.startswith(f"loyalty-pos: The receipt image cannot be saved as {target}")
    out = run(home, "receipt", "last", "--png", str(tmp_path / "r.png"))
    assert out.returncode == 0 and (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--date", "9999-12-31"), "--date '9999-12-31' is not between 1970 and 2999"),
        (("--date", "2026-13-01"), "--date '2026-13-01' is not a date YYYY-MM-DD"),
        (("--keep", "0"), "--keep must be at least 1 (got 0)"),
        (("--keep", "-1"), "--keep must be at least 1 (got -1)"),
    ],
)
def test_the_nightly_job_refuses_bad_arguments_before_it_touches_anything(
    home: Path, args: tuple[str, ...], said: str
) -> None:
    backups = sorted((home / "backups").glob("*.db"))
    out = nightly(home, *args)
    assert out.returncode == 2
    assert said in out.stderr and "Traceback" not in out.stderr
    assert sorted((home / "backups").glob("*.db")) == backups


def test_a_file_that_cannot_be_read_is_said_so_not_called_invalid(
    home: Path, tmp_path: Path
) -> None:
    """A till's config, program or import file that cannot be read (a folder by that name, a
    file another user owns) was "FILE is invalid: cannot read the file", as if its content
    were wrong; nothing is recorded either way."""
    before = run(home, "journal").stdout
    folder = tmp_path / "catalog.csv"
    folder.mkdir()
    out = run(home, "catalog", "import", str(folder))
    assert out.returncode == 2
    assert out.stderr.strip() == f"loyalty-pos: {folder} cannot be read (Is a directory)."
    other = tmp_path / "other"
    (other / "terminal.toml").mkdir(parents=True)
    out = run(other, "verify")
    assert out.returncode == 2
    assert f"{other / 'terminal.toml'} cannot be read (Is a directory)." in out.stderr
    assert "invalid" not in out.stderr
    out = run(tmp_path / "t9", "init", "--terminal-id", "T9", "--program", str(folder))
    assert out.returncode == 2 and f"{folder} cannot be read (Is a directory)." in out.stderr
    assert run(home, "journal").stdout == before


def test_a_file_of_another_user_names_the_user_the_till_runs_as() -> None:
    """Root cannot be refused a file here, so the refusal is built from the error the system
    gives another user: it names who the program runs as and where the README says whose a
    till's files are (a till set up as root, run as its own user)."""
    from loyalty_pos.private import unreadable

    user = pwd.getpwuid(os.geteuid()).pw_name
    said = str(unreadable("/var/lib/t1/terminal.toml", PermissionError(13, "Permission denied")))
    assert said == (
        f"/var/lib/t1/terminal.toml cannot be read (Permission denied): this program runs as "
        f"{user}, and a till's files are its user's alone (README, \"Who can read a till's "
        'files").'
    )


@pytest.mark.parametrize(
    ("kind", "text", "said"),
    [
        (
            "catalog",
            "sku,ean,name,price,category\n" + "S" * 65 + ",,Tea,1.00,drinks\nOK,,Ok,1.00,x\n",
            "line 2: sku is 65 characters long (at most 64)",
        ),
        (
            "catalog",
            "sku,ean,name,price,category\nTEA,,Tea,1.00," + "c" * 201 + "\n",
            "line 2: category is 201 characters long (at most 200)",
        ),
        (
            "members",
            "member_id,card,name,birthday,email\nX1,LC1," + "n" * 201 + ",,\n",
            "line 2: name is 201 characters long (at most 200)",
        ),
        (
            "members",
            "member_id,card,name,birthday,email\nX1," + "C" * 65 + ",Zoe,,\n",
            "line 2: card is 65 characters long (at most 64)",
        ),
        ("catalog", "sku,ean,name,price,category\nBIG,,Big,1e400,x\n", "line 2: price '1e400'"),
        ("catalog", "sku,ean,name,price,category\nTEA,,Tea,1E+02,x\n", "line 2: price '1E+02'"),
        (
            "catalog",  # the checkout app's item field reads it as 3 of A
            "sku,ean,name,price,category\n3*A,,Apple,1.00,x\nOK,,Ok,2.00,x\n",
            "line 2: sku 3*A starts with '3*', which the checkout app reads as a quantity",
        ),
        (
            "catalog",  # ESC p: a receipt printer's command to open the cash drawer
            "sku,ean,name,price,category\nOK,,Ok,1.00,x\nTEA,,Tea\x1bp\x00\x19,1.00,x\n",
            "line 3: name holds a control character (U+001B at position 4)",
        ),
        (
            "catalog",  # as a spreadsheet in many European locales exports it
            "sku;ean;name;price;category\nOK;;Ok;1,00;x\n",
            "separated by commas (this file separates them with ';')",
        ),
        (
            "members",
            "member_id,card,name,birthday,email\nX1,LC1,Zoe,2999-01-01,\n",
            "line 2: birthday 2999-01-01 is in the future",
        ),
        # a card a scan would never find: the scanner takes receipts, then items, then cards
        (
            "members",
            "member_id,card,name,birthday,email\nX1,MILK,Zoe,,\n",
            "line 2: MILK is an item",
        ),
        ("members", "member_id,card,name,birthday,email\nX1,T1-000001,Zoe,,\n", "a receipt id"),
        ("members", "member_id,card,name,birthday,email\nX1,foo,Zoe,,\n", "line 2: 'foo' is not"),
        (
            "catalog",  # a scan of MILK's barcode looks the code up as a SKU first
            "sku,ean,name,price,category\n4000011742186,,Soy,1.49,grocery\n",
            "line 2: sku 4000011742186 is the ean of sku MILK in the catalog",
        ),
        (
            "catalog",
            "sku,ean,name,price,category\n5901234123457,,Tea,1.00,x\nCOF,5901234123457,C,2.00,x\n",
            "line 3: ean 5901234123457 is the sku of another item",
        ),
        (
            "members",
            'member_id,card,name,birthday,email\nX1,LC1,"Zoe\nSmith",,\n',
            "line 2: name holds a control character (U+000A at position 4)",
        ),
    ],
)
def test_an_import_with_a_bad_row_names_it_and_imports_nothing(
    home: Path, tmp_path: Path, kind: str, text: str, said: str
) -> None:
    csv_file = tmp_path / f"{kind}.csv"
    csv_file.write_text(text, encoding="utf-8")
    before = run(home, "journal").stdout, (home / "terminal.db").stat().st_size
    out = run(home, kind, "import", str(csv_file))
    assert out.returncode == 2 and said in out.stderr, out.stderr
    assert run(home, "checkout", "--item", "OK").returncode == 2  # not in the catalog
    assert run(home, "balance", "LC1").returncode == 2  # nor in the members
    assert run(home, "journal").stdout == before[0]


def import_problems(home: Path, kind: str, csv_file: Path) -> list[str]:
    """The problems a refused ``loyalty-pos KIND import FILE`` lists, one a line."""
    out = run(home, kind, "import", str(csv_file))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    head, *problems = out.stderr.splitlines()
    assert head == f"loyalty-pos: {csv_file} is invalid:"
    return problems


def test_a_price_with_a_decimal_comma_is_told_how_to_write_it_and_nothing_is_imported(
    home: Path, tmp_path: Path
) -> None:
    """QA: a catalog saved by a spreadsheet that writes a comma as its decimal mark
    (``COFFEE,4006381333931,Coffee,2,49,drinks``) was refused with "line 3: wrong number of
    fields", which names neither the price nor what to do about it."""
    csv_file = tmp_path / "catalog.csv"
    csv_file.write_text(
        "sku,ean,name,price,category\nTEA2,,Tea,1.20,drinks\n"
        "COFFEE2,4006381333931,Coffee,2,49,drinks\nCAKE2,,Cake,1000,bakery\n"
        "JAM2,,Jam,1,000,grocery\n",
        encoding="utf-8",
    )
    assert import_problems(home, "catalog", csv_file) == [
        "  - line 3: 6 cells where the file has 5 columns (sku,ean,name,price,category): "
        "the price 2,49 is cut in two at its comma; write it with a point (2.49) and save "
        "the file again",
        "  - line 5: 6 cells where the file has 5 columns (sku,ean,name,price,category): "
        "the price 1,000 is cut in two at its comma; write it without a thousands separator "
        "(1000) and save the file again",
    ]
    assert run(home, "checkout", "--item", "TEA2").returncode == 2  # nothing imported


@pytest.mark.parametrize(
    ("row", "said"),
    [
        (
            "M9101,LC91010001,Smith, Anna,1990-01-31,\n",
            "line 2: 6 cells where the file has 5 columns (member_id,card,name,birthday,email): "
            'a cell holding a comma (a name such as Smith, Anna) goes in double quotes ("Smith, '
            'Anna"), as a spreadsheet\'s "CSV UTF-8" writes it',
        ),
        (
            "M9101,LC91010001,Anna\n",
            "line 2: 3 cells where the file has 5 columns (member_id,card,name,birthday,email): "
            "every row has a cell for each column, an empty one as nothing between its commas "
            "(with the last 2 empty: M9101,LC91010001,Anna,,)",
        ),
    ],
)
def test_a_members_row_with_more_or_fewer_cells_than_columns_says_what_is_likely_wrong(
    home: Path, tmp_path: Path, row: str, said: str
) -> None:
    """A name written "Smith, Anna" without quotes (a file typed by hand) was "line 2: wrong
    number of fields"; the ledger's import said "more cells than columns" of the same row."""
    csv_file = tmp_path / "members.csv"
    csv_file.write_text("member_id,card,name,birthday,email\n" + row, encoding="utf-8")
    assert import_problems(home, "members", csv_file) == [f"  - {said}"]
    assert run(home, "balance", "LC91010001").returncode == 2  # nothing imported


def test_a_spreadsheet_s_csv_not_in_utf_8_is_named_by_its_line_and_how_to_save_it(
    home: Path, tmp_path: Path
) -> None:
    """QA: a members file saved as a spreadsheet's plain "CSV" (Windows-1252, "Chloé") was
    refused with Python's codec sentence and a byte position ("'utf-8' codec can't decode byte
    0xe9 in position 56: invalid continuation byte"), which no owner can find in the file."""
    csv_file = tmp_path / "members.csv"
    csv_file.write_bytes(
        b"member_id,card,name,birthday,email\r\nM9001,LC90000001,Ada,,\r\n"
        b"M9002,LC90000002,Chlo\xe9 Martin,,\r\n"
    )
    assert import_problems(home, "members", csv_file) == [
        "  - line 3: not UTF-8 text (byte 0xe9 after 'M9002,LC90000002,Chlo'): save the file "
        'as CSV UTF-8 (a spreadsheet\'s "CSV UTF-8" type)'
    ]
    assert run(home, "balance", "LC90000001").returncode == 2  # nothing imported


def test_an_import_refused_on_every_line_lists_the_first_problems_and_counts_the_rest(
    home: Path, tmp_path: Path
) -> None:
    """QA: a 100,000-line members file whose cards were all of the wrong form printed 100,000
    lines on the terminal; the first ones say what is wrong. JSON keeps every problem."""
    csv_file = tmp_path / "members.csv"
    rows = "".join(f"X{i},XX{i},Name,,\n" for i in range(1000))
    csv_file.write_text("member_id,card,name,birthday,email\n" + rows, encoding="utf-8")
    out = run(home, "members", "import", str(csv_file))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[0] == f"loyalty-pos: {csv_file} is invalid:"
    assert lines[1].startswith("  - line 2: 'XX0' is not a card number")
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "  ... and 980 more problems (with --json, all of them)"
    out = run(home, "--json", "members", "import", str(csv_file))
    assert out.returncode == 2 and len(json.loads(out.stderr)["problems"]) == 1000


def test_an_import_taking_a_stored_items_ean_is_refused_not_a_storage_fault(
    home: Path, tmp_path: Path
) -> None:
    csv_file = tmp_path / "catalog.csv"
    csv_file.write_text("sku,ean,name,price,category\nSOY,4000011742186,Soy,1.49,grocery\n")
    out = run(home, "catalog", "import", str(csv_file))
    assert out.returncode == 2, out.stderr
    assert "line 2: ean 4000011742186 already belongs to sku MILK in the catalog" in out.stderr
    assert run(home, "checkout", "--item", "SOY").returncode == 2  # nothing imported


@pytest.mark.parametrize(
    "args",
    [
        ("card", "read", "--timeout", "nan"),
        ("card", "read", "--timeout", "-1"),
        ("scan", "--serial", "/dev/null", "--timeout", "1e400"),
        ("journal", "--since", "99999999999999999999999"),
    ],
)
def test_numbers_out_of_range_are_usage_errors(home: Path, args: tuple[str, ...]) -> None:
    out = run(home, *args)
    assert out.returncode == 2
    assert ": argument --" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and "usage:" not in out.stderr  # one line, no usage block


@pytest.mark.parametrize(
    ("args", "said", "command"),
    [
        (
            ("--json", "adjust", "04A1B2C3D4E506", "-5", "--manager-pin", "2468"),
            "the following arguments are required: --reason",
            "loyalty-pos adjust",
        ),
        (
            ("checkout", "--item", "MILK", "--bogus", "--json"),
            "unrecognized arguments: --bogus",
            "loyalty-pos checkout",
        ),
        (("--json", "card", "block", "X1", "--pin", "1"), "unrecognized", "loyalty-pos card block"),
        (("--json", "--bogus", "verify"), "unrecognized arguments: --bogus", "loyalty-pos verify"),
        (("--json", "sell", "--item", "MILK"), "invalid choice: 'sell'", "loyalty-pos"),
        (
            ("checkout", "--js", "--line", "-5:grocery"),
            "argument --line: expected one argument (a value that starts with '-' is written "
            "--line=VALUE)",
            "loyalty-pos checkout",
        ),
        (("--json", "journal", "--since", "-1"), "argument --since", "loyalty-pos journal"),
    ],
)
def test_with_json_a_command_line_that_cannot_be_read_is_a_json_error_on_stderr(
    home: Path, args: tuple[str, ...], said: str, command: str
) -> None:
    """README: ``--json`` gives an error as JSON on stderr, and that holds for the errors
    argparse finds too (a missing option, an unknown option or command); exit 2, nothing
    recorded."""
    before = journal_lines(home)
    out = run(home, *args)
    assert out.returncode == 2 and out.stdout == ""
    error = json.loads(out.stderr)
    assert (error["error"], error["command"]) == ("usage", command)
    assert said in error["message"] and error["message"].endswith(f"see {command} --help")
    assert journal_lines(home) == before
    plain = run(home, *(a for a in args if a not in ("--json", "--js")))
    assert plain.returncode == 2 and plain.stderr.startswith(f"{command}: ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("enroll", "--card", "MILK"), "MILK is an item in the catalog, not a card."),
        (("enroll", "--card", "T1-000001"), "T1-000001 is a receipt id, not a card."),
        (("enroll", "--card", "foo"), "'foo' is not a card number this terminal can read"),
        (
            ("card", "link", "lowercaseabc", "--member", "M0001", "--manager-pin", "2468"),
            "'lowercaseabc' is not a card number this terminal can read",
        ),
    ],
)
def test_a_card_no_scan_could_find_is_refused_and_nothing_recorded(
    home: Path, args: tuple[str, ...], said: str
) -> None:
    before = journal_lines(home)
    out = run(home, *args)
    assert out.returncode == 2 and said in out.stderr, out.stderr
    assert journal_lines(home) == before


def test_plain_errors_are_one_sentence(home: Path) -> None:
    out = run(home, "checkout", "--item", "NOSUCH")
    assert out.returncode == 2
    assert out.stderr.strip() == "loyalty-pos: No item with code 'NOSUCH' in the catalog."


def test_a_checkout_with_an_empty_card_is_refused_not_sold_without_the_member(
    home: Path,
) -> None:
    """``--card "$CARD"`` with the variable unset: the customer's points would be lost without a
    word, so it is refused as ``balance`` and ``enroll`` refuse it; no ``--card`` at all is a
    sale without a member."""
    before = journal_lines(home)
    out = run(home, "checkout", "--card", "", "--line", "10:grocery", "--at", AT)
    assert out.returncode == 2
    assert out.stderr == "loyalty-pos: No card number given.\n"
    assert journal_lines(home) == before
    out = run(home, "--json", "checkout", "--line", "10:grocery", "--at", AT)
    assert out.returncode == 0 and json.loads(out.stdout)["member_id"] is None


def test_a_value_that_starts_with_a_dash_is_told_how_to_give_it_and_nothing_recorded(
    home: Path,
) -> None:
    before = journal_lines(home)
    out = run(home, "checkout", "--line", "-5:grocery")
    assert out.returncode == 2
    assert out.stderr == (
        "loyalty-pos checkout: argument --line: expected one argument (a value that starts "
        "with '-' is written --line=VALUE); see loyalty-pos checkout --help\n"
    )
    given = run(home, "checkout", "--line=-5:grocery")
    assert given.returncode == 2
    assert "A free-amount line needs an amount above 0 (got -5)" in given.stderr
    assert journal_lines(home) == before


def test_a_free_amount_line_reads_a_decimal_comma_as_the_app_does(home: Path) -> None:
    """F7 in the app takes 4,99 for 4.99 and refuses 1,000 as ambiguous; --line refused the
    first ("not a number") and so differed from the app for the same typing."""
    before = journal_lines(home)
    ambiguous = run(home, "--json", "checkout", "--line", "1,000:grocery")
    assert ambiguous.returncode == 2 and "could be 1000 (with a thousands" in ambiguous.stderr
    # QA: 0.001 is no thousands group; it was told "could be a thousand or one" all the same.
    tiny = run(home, "--json", "checkout", "--line", "0.001:grocery")
    assert tiny.returncode == 2 and "0.001 has more decimals than EUR allows" in tiny.stderr
    assert journal_lines(home) == before
    sale = run(home, "--json", "checkout", "--line", "4,99:grocery")
    assert sale.returncode == 0, sale.stderr
    assert json.loads(sale.stdout)["total"] == "4.99"


@pytest.mark.parametrize(
    "args",
    [
        ("checkout", "--item", "A" * 5000),
        ("checkout", "--card", "B" * 5000, "--item", "MILK"),
        ("balance", "C" * 5000),
        ("enroll", "--card", "D" * 5000),
        ("card", "link", "E" * 5000, "--member", "M0001", "--manager-pin", "2468"),
    ],
)
def test_a_runaway_code_is_refused_without_echoing_it_whole(
    home: Path, args: tuple[str, ...]
) -> None:
    before = journal_lines(home)
    out = run(home, *args)
    assert out.returncode == 2, out.stderr
    assert 20 < len(out.stderr) < 200, out.stderr
    assert journal_lines(home) == before


def test_a_uid_typed_in_lower_case_is_the_card_the_reader_reads(home: Path, tmp_path: Path) -> None:
    """A PC/SC reader gives a UID in upper-case hex; typed in lower case it is the same card,
    at enrolment, at the till and in a members file."""
    enrolled = run(home, "enroll", "--card", "04c0ffee00aa11", "--name", "Lower", "--json")
    assert enrolled.returncode == 0, enrolled.stderr
    member = json.loads(enrolled.stdout)["member_id"]
    for typed in ("04C0FFEE00AA11", "04c0ffee00aa11", " 04C0ffee00AA11 "):
        out = run(home, "balance", typed, "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["member_id"] == member
        assert json.loads(out.stdout)["card"].endswith("AA11")
    again = run(home, "enroll", "--card", "04C0FFEE00AA11")
    assert again.returncode == 2 and f"already belongs to Lower ({member})" in again.stderr
    sale = run(home, "checkout", "--card", "04c0ffee00aa11", "--item", "MILK", "--json")
    assert sale.returncode == 0, sale.stderr
    assert json.loads(sale.stdout)["member_id"] == member
    event = json.loads(journal_lines(home)[-1])
    assert event["card"] == "04C0FFEE00AA11"  # the ledger gets the card as the reader reads it

    members = tmp_path / "members.csv"
    members.write_text("member_id,card,name,birthday,email\nMLOW2,04beef01,Low Two,,\n")
    assert run(home, "members", "import", str(members)).returncode == 0
    out = run(home, "balance", "04BEEF01", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["member_id"] == "MLOW2", out.stderr


def test_a_printed_card_number_in_lower_case_in_a_members_file_is_the_card_scanned(
    home: Path, tmp_path: Path
) -> None:
    """QA: a members file with `lc00200011` (the store's LC card typed in lower case) imported,
    and the member was found only as typed: the card scanned, `LC00200011`, was "not known
    here". Enrolment takes such a number in capitals (the only form the card pattern reads as a
    card); the import now does the same, so the card scanned and the card typed are one."""
    members = tmp_path / "members.csv"
    members.write_text("member_id,card,name,birthday,email\nMLC11,lc00200011,Lower LC,,\n")
    out = run(home, "members", "import", str(members))
    assert out.returncode == 0, out.stderr
    for typed in ("LC00200011", "lc00200011"):
        out = run(home, "balance", typed, "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["member_id"] == "MLC11"
    sale = run(home, "checkout", "--card", "LC00200011", "--item", "MILK", "--json")
    assert sale.returncode == 0, sale.stderr
    assert json.loads(sale.stdout)["member_id"] == "MLC11"
    assert json.loads(journal_lines(home)[-1])["card"] == "LC00200011"


def test_a_product_gtin_typed_as_a_new_card_is_refused_as_the_app_refuses_it(
    home: Path, tmp_path: Path
) -> None:
    """QA: `enroll --card` took a carton's ITF-14 (14 digits, a GTIN check digit), which the
    default card pattern reads as a 7-byte UID and the app's card fields refuse typed as a
    product's barcode; enrolled, that carton's code then attached the member wherever it was
    scanned. The CLI (enrolment, a new card) and a members file refuse it in the app's words; a
    14-digit number whose last digit does not fit a GTIN is still a card."""
    carton = "09520123456788"
    said = f"'{carton}' is a product's barcode (GTIN), not a member card."
    before = journal_lines(home)
    for args in (
        ("enroll", "--card", carton, "--name", "Carton"),
        ("card", "link", carton, "--member", "M0001", "--manager-pin", "2468"),
    ):
        out = run(home, *args)
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith(f"loyalty-pos: {said} A card whose number only looks")
        assert "tapping it on the reader" in out.stderr
    members = tmp_path / "members.csv"
    members.write_text(f"member_id,card,name,birthday,email\nMGTIN,{carton},Carton,,\n")
    out = run(home, "members", "import", str(members))
    assert out.returncode == 2 and f"line 2: {said[:-1]}\n" in out.stderr, out.stderr
    assert journal_lines(home) == before
    assert run(home, "balance", carton).returncode == 2  # no member has it

    uid = "09520123456789"  # the same digits, no GTIN: a card as before
    out = run(home, "enroll", "--card", uid, "--name", "Uid", "--json")
    assert out.returncode == 0, out.stderr


def test_a_card_an_earlier_release_stored_in_lower_case_is_still_found(home: Path) -> None:
    with sqlite3.connect(home / "terminal.db") as conn:
        conn.execute("INSERT INTO cards (card, member_id) VALUES ('04abcdef01', 'M0001')")
    out = run(home, "balance", "04abcdef01", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["member_id"] == "M0001"


def test_enrolment_after_a_members_file_that_holds_this_tills_own_ids_takes_a_free_one(
    tmp_path: Path,
) -> None:
    """A rebuilt till given its old members list holds ids it would make itself: the next
    enrolment takes the first free one, instead of failing on the database's unique key."""
    home = tmp_path / "t1"
    program = str(ROOT / "config" / "program.example.toml")
    assert run(home, "init", "--terminal-id", "T1", "--program", program).returncode == 0
    members = tmp_path / "old.csv"
    members.write_text(
        "member_id,card,name,birthday,email\n"
        "T1-M000001,LC10000001,Old one,,\nT1-M000001-2,LC10000002,Old two,,\n"
    )
    assert run(home, "members", "import", str(members)).returncode == 0
    out = run(home, "enroll", "--card", "LC10000003", "--name", "New", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["member_id"] == "T1-M000001-3"
    again = run(home, "enroll", "--card", "LC10000004", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["member_id"] == "T1-M000002"
    assert run(home, "verify").returncode == 0


def test_printing_a_receipt_without_a_printer_or_to_a_bad_url_is_refused_naming_the_option(
    home: Path,
) -> None:
    assert run(home, "checkout", "--item", "MILK").returncode == 0
    bad = run(home, "receipt", "last", "--print", "bogus://x")
    assert bad.returncode == 2
    assert bad.stderr.startswith("loyalty-pos: --print 'bogus://x': unknown printer URL")
    assert "terminal.toml" not in bad.stderr
    none = run(home, "receipt", "last", "--print")
    assert none.returncode == 2  # refused, not a device fault
    assert "No receipt printer is set up on this terminal: give one" in none.stderr


def test_a_home_under_a_file_is_refused_in_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    program = str(ROOT / "config" / "program.example.toml")
    for args in (("init", "--terminal-id", "T1", "--program", program), ("balance", "LC1")):
        out = run(tmp_path / "afile" / "x", *args)
        assert out.returncode == 2, out.stderr
        assert f"{tmp_path / 'afile'} is a file, so" in out.stderr
        assert "internal error" not in out.stderr


def test_the_end_of_day_text_keeps_its_columns_and_writes_money_as_money(home: Path) -> None:
    out = run(home, "report", "--date", "2001-01-01")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) == 48
    figures = {line[:34].strip(): line[34:].strip() for line in lines[3:]}
    assert figures["money paid back"] == "0.00"
    assert figures["worth"] == "0.00"
    # A day without sales has no average check, LTV or retention (nothing to divide by), as
    # the ledger's report says it: not 0.00, and not "-" (a figure the till cannot know).
    assert figures["Average check with a card (m)"] == "n/a"
    assert figures["LTV = m x a x t"] == "n/a"
    assert figures["Retention % = K / S"] == "n/a"
    assert figures["Churn %"] == "n/a"


def test_init_with_a_ledger_url_that_is_not_http_says_so_first(tmp_path: Path) -> None:
    home = tmp_path / "t9"
    program = str(ROOT / "config" / "program.example.toml")
    out = run(home, "init", "--terminal-id", "T9", "--program", program, "--ledger-url", "ftp://x")
    assert out.returncode == 2
    assert (
        "--ledger-url must be http(s)://HOST[:PORT][/PREFIX] (no /v1), got 'ftp://x'" in out.stderr
    )
    assert not home.exists()


def test_init_refuses_an_invalid_program_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "program.toml"
    bad.write_text(
        (ROOT / "config/program.example.toml")
        .read_text()
        .replace("min_points = 0", "min_points = -3")
    )
    out = run(tmp_path / "t", "init", "--terminal-id", "T2", "--program", str(bad), "--json")
    assert out.returncode == 2
    err = json.loads(out.stderr)
    assert err["file"] == str(bad) and any("redeem.min_points" in p for p in err["problems"])
    assert not (tmp_path / "t" / "terminal.toml").exists()


def test_init_writes_any_store_name_and_refuses_a_ledger_url_before_writing(
    tmp_path: Path,
) -> None:
    program = str(ROOT / "config/program.example.toml")
    name = 'Joe\'s "Best" Shop \\ Ölmühle'
    init = ("init", "--terminal-id", "T3", "--program", program)
    out = run(tmp_path / "a", *init, "--ledger-url", "http://127.0.0.1:9")
    assert out.returncode == 2
    assert "A terminal with a ledger needs its token, and none came: add --token" in out.stderr
    assert not (tmp_path / "a").exists()
    out = run(tmp_path / "a", *init, "--token", "t0ken")  # a token with no ledger to use it
    assert out.returncode == 2 and "add --ledger-url" in out.stderr
    assert not (tmp_path / "a").exists()
    with_ledger = ("--ledger-url", "http://127.0.0.1:9", "--token", "t0ken")
    out = run(tmp_path / "a", *init, "--store-name", name, *with_ledger)
    assert out.returncode == 0, out.stderr
    config = tomllib.loads((tmp_path / "a" / "terminal.toml").read_text(encoding="utf-8"))
    assert config["store"]["name"] == name
    assert run(tmp_path / "a", "verify").returncode == 0  # the terminal opens again

    out = run(tmp_path / "b", *init, "--ledger-url", "ledger.example:8700", "--token", "x")
    assert out.returncode == 2
    assert "--ledger-url must be http(s)://HOST[:PORT]" in out.stderr
    assert not (tmp_path / "b").exists()

    out = run(tmp_path / "c", *init, "--store-name", "Joe's\nShop")
    assert out.returncode == 2
    assert "store.name holds a control character (U+000A at position 6)" in out.stderr
    assert not (tmp_path / "c").exists()


def test_a_stored_program_past_a_newer_bound_is_replaced_by_program_set(tmp_path: Path) -> None:
    """A program an older release stored may break a bound added since (here an expiry of a
    million days): the terminal says so, and ``program set`` with a newer version mends it."""
    home = tmp_path / "t"
    example = ROOT / "config" / "program.example.toml"
    assert run(home, "init", "--terminal-id", "T4", "--program", str(example)).returncode == 0
    with sqlite3.connect(home / "terminal.db") as db:
        rules = json.loads(db.execute("SELECT rules FROM programs").fetchone()[0])
        rules["program"]["version"] = 2
        rules["expiry"]["days"] = 1_000_000
        db.execute(
            "INSERT INTO programs (version, rules, stored_at) VALUES (2, ?, '2026-11-01')",
            (json.dumps(rules),),
        )
    out = run(home, "checkout", "--line", "1.00:grocery")
    assert out.returncode == 2 and "program v2 (stored) is invalid" in out.stderr
    newer = tmp_path / "program.toml"
    newer.write_text(example.read_text().replace("version = 1 ", "version = 3 ", 1))
    assert run(home, "program", "set", str(newer)).returncode == 0
    assert run(home, "checkout", "--line", "1.00:grocery").returncode == 0


def test_two_free_amounts_of_one_category_are_refunded_each_by_its_own_line(home: Path) -> None:
    sale = json.loads(
        run(
            home,
            *("checkout", "--card", "LC00100037", "--line", "30:grocery", "--line", "20:grocery"),
            *("--at", AT, "--json"),
        ).stdout
    )
    event = json.loads(journal_lines(home)[-1])
    assert [(line["sku"], line["unit_price_minor"]) for line in event["lines"]] == [
        ("OPEN:grocery", 3000),
        ("OPEN:grocery#2", 2000),
    ]
    refund = ("refund", sale["receipt_id"], "--manager-pin", "2468", "--at", AT, "--json")
    second = run(home, *refund, "--item", "OPEN:grocery#2")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["refunded"] == "20.00"
    first = run(home, *refund, "--item", "OPEN:grocery:1")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["refunded"] == "30.00"
    again = run(home, *refund, "--item", "OPEN:grocery")
    assert again.returncode == 2 and "already been fully refunded" in again.stderr


def test_a_refund_gives_back_the_points_paid_with_their_expiry_and_lapsed_ones_stay_lapsed(
    home: Path,
) -> None:
    """David has 600 points expiring on 1 December and 2,000 until next November; he pays 2,000
    points for two bags of beans (the 600 first), returns one bag on 25 November and the other on
    5 December. The points come back as they were, the later ones first; the 600 had expired by
    the second return, so they stay expired instead of starting a new year."""
    card, pin = "LC00100111", ("--manager-pin", "2468")

    def cli(*args: str) -> Any:
        out = run(home, *args, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def expiring(at: str) -> list[tuple[int, str]]:
        shown = cli("balance", card, "--at", at)["expiring"]
        return [(lot["points"], lot["expires_at"]) for lot in shown]

    cli("adjust", card, "600", "--reason", "welcome", *pin, "--at", "2025-12-01T10:00:00+01:00")
    cli("adjust", card, "2000", "--reason", "survey", *pin, "--at", "2026-11-01T10:00:00+01:00")
    sale = cli(
        *("checkout", "--card", card, "--item", "ESPRESSO:2", "--redeem", "2000"),
        *("--at", "2026-11-22T14:00:00+01:00"),
    )
    earned = sale["points_earned"]
    assert expiring("2026-11-22T15:00:00+01:00") == [(600, "2027-11-01"), (earned, "2027-11-22")]

    refund = ("refund", sale["receipt_id"], *pin)
    first = cli(*refund, "--item", "ESPRESSO:1", "--at", "2026-11-25T10:00:00+01:00")
    assert first["points_restored"] == 1000
    left = earned - first["points_reversed"]
    assert expiring("2026-11-25T11:00:00+01:00") == [(1600, "2027-11-01"), (left, "2027-11-22")]

    second = cli(*refund, "--at", "2026-12-05T10:00:00+01:00")
    assert second["points_restored"] == 1000 and second["fully_refunded"]
    assert second["balance"] == 2000  # the 600 given back had lapsed on 1 December
    assert expiring("2026-12-05T11:00:00+01:00") == [(2000, "2027-11-01")]
    assert cli("verify")["ok"]


def test_program_set_refuses_another_currency(home: Path, tmp_path: Path) -> None:
    yen = tmp_path / "yen.toml"
    yen.write_text(
        (ROOT / "config/program.example.toml")
        .read_text()
        .replace("version = 1", "version = 9")
        .replace('currency = "EUR"', 'currency = "JPY"')
    )
    before = journal_lines(home)
    out = run(home, "program", "set", str(yen), "--json")
    assert out.returncode == 2
    assert "the currency is JPY, this terminal's is EUR" in json.loads(out.stderr)["message"]
    assert journal_lines(home) == before
    sale = json.loads(run(home, "checkout", "--item", "MILK", "--json", "--at", AT).stdout)
    assert sale["total"] == "1.19"


def test_a_terminal_with_a_ledger_takes_its_program_only_from_the_ledger(tmp_path: Path) -> None:
    program = ROOT / "config/program.example.toml"
    home = tmp_path / "t"
    ledger = ("--ledger-url", "http://127.0.0.1:9", "--token", "t0ken")
    assert (
        run(home, "init", "--terminal-id", "T5", "--program", str(program), *ledger).returncode == 0
    )
    newer = tmp_path / "v2.toml"
    newer.write_text(program.read_text().replace("version = 1", "version = 2"))
    out = run(home, "program", "set", str(newer))
    assert out.returncode == 2
    assert "takes its program from the ledger" in out.stderr
    with sqlite3.connect(home / "terminal.db") as db:
        assert db.execute("SELECT MAX(version) FROM programs").fetchone() == (1,)


def test_program_set_keeps_the_last_valid_program(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text(
        (ROOT / "config/program.example.toml")
        .read_text()
        .replace("version = 1", "version = 2")
        .replace('kind = "cashback"', 'kind = "raffle"')
    )
    out = run(home, "program", "set", str(bad), "--json")
    assert out.returncode == 2 and "promotions[4].kind" in out.stderr
    good = tmp_path / "good.toml"
    good.write_text(
        (ROOT / "config/program.example.toml").read_text().replace("version = 1", "version = 2")
    )
    assert json.loads(run(home, "program", "set", str(good), "--json").stdout)["version"] == 2


def test_invalid_terminal_config_names_the_key(tmp_path: Path, home: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    cfg = copy / "terminal.toml"
    cfg.write_text(cfg.read_text() + "\n[printer]\n" + "\n[extra]\nfoo = 1\n")
    out = run(copy, "balance", "LC00100037", "--json")
    assert out.returncode == 2
    assert "extra: unknown key" in json.loads(out.stderr)["message"]


def test_scripted_demo_runs_on_a_fresh_home(tmp_path: Path) -> None:
    out = run(tmp_path / "demo", "demo", "--script", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["verify"]["ok"] and result["balance"]["balance"] >= 0


def test_a_home_that_is_a_file_or_unreadable_files_are_sentences(tmp_path: Path) -> None:
    """A mistyped --home (a file, or a folder under a file) and files that are not UTF-8: exit
    2 with a sentence, no traceback, nothing written."""
    program = str(ROOT / "config" / "program.example.toml")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a terminal\n")
    for home, args in (
        (a_file, ("balance", "LC00100037")),
        (a_file, ("init", "--terminal-id", "T1", "--program", program)),
        (a_file / "sub", ("balance", "LC00100037")),
    ):
        out = run(home, *args)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr and "internal error" not in out.stderr
        assert str(a_file) in out.stderr
    assert a_file.read_text() == "not a terminal\n"

    night = nightly(a_file)
    assert night.returncode == 2 and "is a file, not a folder" in night.stderr

    latin1 = tmp_path / "program.toml"
    latin1.write_bytes((ROOT / "config" / "program.example.toml").read_bytes() + b"# caf\xe9\n")
    out = run(tmp_path / "t", "init", "--terminal-id", "T1", "--program", str(latin1))
    assert out.returncode == 2 and "not UTF-8 text" in out.stderr, out.stderr
    assert not (tmp_path / "t").exists()


def test_a_terminal_made_without_a_manager_pin_gets_one_with_pin_set(tmp_path: Path) -> None:
    """The first PIN is set freely, a new one only with the current one; the config keeps the
    comments and keys a person wrote in it."""
    home = tmp_path / "t"
    program = str(ROOT / "config" / "program.example.toml")
    assert run(home, "init", "--terminal-id", "T5", "--program", program).returncode == 0
    config = home / "terminal.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[store]", '[store]\naddress = ["1 Quay"]  # kept by hand'
        ),
        encoding="utf-8",
    )
    assert run(home, "enroll", "--card", "LC55550001").returncode == 0
    adjust = ("adjust", "LC55550001", "5", "--reason", "goodwill")
    out = run(home, *adjust, "--manager-pin", "2468")
    assert out.returncode == 2 and "`loyalty-pos pin set`" in out.stderr

    config.chmod(0o600)
    before = config.read_text(encoding="utf-8")
    for bad in ("12a4", "123", "1234567890123", "１２３４"):
        out = run(home, "pin", "set", "--new-pin", bad)
        assert out.returncode == 2 and "4 to 12 digits" in out.stderr
    assert config.read_text(encoding="utf-8") == before

    assert run(home, "pin", "set", "--new-pin", "2468").returncode == 0
    assert run(home, *adjust, "--manager-pin", "2468").returncode == 0
    text = config.read_text(encoding="utf-8")
    assert "# kept by hand" in text and "scrypt$" in text
    # the PIN is not written as typed: only its hash (whose hex may hold those digits by chance)
    unhashed = text.replace(tomllib.loads(text)["manager"]["pin_hash"], "")
    assert "2468" not in unhashed
    assert config.stat().st_mode & 0o777 == 0o600

    out = run(home, "pin", "set", "--new-pin", "1357")
    assert out.returncode == 2 and "This needs the manager PIN (--manager-pin)." in out.stderr
    assert run(home, "pin", "set", "--new-pin", "1357", "--manager-pin", "2468").returncode == 0
    assert run(home, *adjust, "--manager-pin", "2468").returncode == 2
    assert run(home, *adjust, "--manager-pin", "1357").returncode == 0


def test_pin_and_token_set_refuse_an_at_that_is_no_time_as_every_command_does(
    tmp_path: Path,
) -> None:
    """QA: `pin set --at garbage` set the PIN and said nothing of the --at, which every other
    command refuses (the PIN and its lockout run on the clock, whatever --at says)."""
    home = tmp_path / "t"
    program = str(ROOT / "config" / "program.example.toml")
    ledger = ("--ledger-url", "http://127.0.0.1:9", "--token", "old-token")
    init = ("init", "--terminal-id", "T7", "--program", program, "--manager-pin", "2468")
    assert run(home, *init, *ledger).returncode == 0
    files = ("terminal.toml", "ledger.token")
    for command in (
        ("token", "set", "--token", "new-token", "--manager-pin", "2468"),
        ("pin", "set", "--new-pin", "1357", "--manager-pin", "2468"),
    ):
        before = [(home / name).read_text() for name in files]
        out = run(home, *command, "--at", "garbage")
        assert out.returncode == 2, out.stdout
        assert out.stderr.startswith("loyalty-pos: --at 'garbage' is not an ISO-8601 time")
        assert [(home / name).read_text() for name in files] == before
        assert run(home, *command, "--at", AT).returncode == 0
        assert [(home / name).read_text() for name in files] != before


def test_a_forgotten_manager_pin_is_asked_for_and_never_locks(tmp_path: Path) -> None:
    home = tmp_path / "t"
    program = str(ROOT / "config" / "program.example.toml")
    init = ("init", "--terminal-id", "T6", "--program", program, "--manager-pin", "2468")
    assert run(home, *init).returncode == 0
    assert run(home, "enroll", "--card", "LC55550002").returncode == 0
    adjust = ("adjust", "LC55550002", "5", "--reason", "goodwill")
    for _ in range(5):
        out = run(home, *adjust)
        assert out.returncode == 2
        assert out.stderr == "loyalty-pos: This needs the manager PIN (--manager-pin).\n"
    assert run(home, *adjust, "--manager-pin", "2468").returncode == 0


def test_a_past_days_report_says_what_the_nightly_report_said_that_night(tmp_path: Path) -> None:
    """The balances of a report are those at the end of its period, replayed from the journal:
    what happens the next day does not change what the store owed on the night before."""
    home = tmp_path / "t1"
    program = str(ROOT / "config" / "program.example.toml")
    init = run(home, "init", "--terminal-id", "T1", "--program", program, "--manager-pin", "2468")
    assert init.returncode == 0, init.stderr
    assert run(home, "members", "import", str(ROOT / "config/demo/members.csv")).returncode == 0
    assert run(home, "catalog", "import", str(ROOT / "config/demo/catalog.csv")).returncode == 0
    ben, pin = "LC00100037", ("--manager-pin", "2468")
    # 1 March: Ben buys, a manager gives Anna points; the nightly job reports the day.
    for args in (
        ("checkout", "--card", ben, "--item", "BOOK-COOK:2"),
        ("adjust", "04A1B2C3D4E500", "300", "--reason", "welcome", *pin),
    ):
        assert run(home, *args, "--at", "2026-03-01T12:00:00+01:00").returncode == 0
    night = nightly(home, "--date", "2026-03-01")
    assert night.returncode == 0, night.stderr
    that_night = json.loads((home / "reports" / "2026-03-01.json").read_text())
    assert that_night["outstanding_points"] == 848  # Ben's 49 and 499 cashback, Anna's 300
    assert that_night["negative_balances"] == [] and that_night["outstanding_debt"] == 0
    # 2 March: Ben's points are taken back beyond his balance, and Anna buys.
    assert run(
        home, "adjust", ben, "-600", "--reason", "points given twice", *pin,
        "--at", "2026-03-02T10:00:00+01:00",
    ).returncode == 0  # fmt: skip
    sale = run(
        home, "checkout", "--card", "04A1B2C3D4E500", "--item", "OLIVEOIL",
        "--at", "2026-03-02T11:00:00+01:00",
    )  # fmt: skip
    assert sale.returncode == 0, sale.stderr

    out = run(home, "report", "--date", "2026-03-01", "--json")
    assert out.returncode == 0, out.stderr
    again = json.loads(out.stdout)
    balance_figures = [
        "outstanding_points",
        "outstanding_value",
        "outstanding_positive_balances",
        "outstanding_debt",
        "negative_balances",
    ]
    assert {k: again[k] for k in balance_figures} == {k: that_night[k] for k in balance_figures}
    next_day = json.loads(run(home, "report", "--date", "2026-03-02", "--json").stdout)
    assert next_day["negative_balances"] == ["M0002"]
    assert (next_day["outstanding_debt"], next_day["outstanding_positive_balances"]) == (52, 308)
    assert next_day["outstanding_points"] == 308 - 52
    text = run(home, "report", "--date", "2026-03-01").stdout
    assert "Members with a negative balance                0" in text


def test_a_till_made_with_a_relative_home_opens_from_any_folder(tmp_path: Path) -> None:
    """``--home s1`` names a folder of the one the command runs in; the config must not keep
    that relative path (its token file), or cron and every other folder cannot open the till."""
    program = str(ROOT / "config" / "program.example.toml")
    shop, elsewhere = tmp_path / "shop", tmp_path / "elsewhere"
    shop.mkdir()
    elsewhere.mkdir()

    def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=cwd,
        )

    made = cli(
        shop, "--home", "s1", "init", "--terminal-id", "S1", "--program", program,
        "--ledger-url", "http://127.0.0.1:9", "--token", "a-token",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    config = (shop / "s1" / "terminal.toml").read_text(encoding="utf-8")
    assert str(shop / "s1" / "ledger.token") in config
    for cwd, home in ((elsewhere, str(shop / "s1")), (shop, "s1"), (shop / "s1", ".")):
        out = cli(cwd, "--home", home, "--json", "journal")
        assert out.returncode == 0, (cwd, out.stderr)


def test_the_nightly_job_for_a_folder_without_a_till_makes_nothing_there(tmp_path: Path) -> None:
    missing = tmp_path / "no-till"
    out = nightly(missing)
    assert out.returncode == 2 and "run `loyalty-pos init` first" in out.stderr
    assert not missing.exists()


def test_a_command_in_a_folder_without_a_till_says_none_is_set_up_there(tmp_path: Path) -> None:
    """QA: it said "terminal.toml is invalid: file not found", of a file that is not there."""
    missing = tmp_path / "no-till"
    out = run(missing, "balance", "04A1B2C3D4E500")
    assert out.returncode == 2 and "invalid" not in out.stderr
    assert f"No terminal is set up in {missing} (it has no terminal.toml)" in out.stderr
    assert "run `loyalty-pos init` first" in out.stderr and not missing.exists()


def test_output_its_reader_stops_reading_ends_quietly(home: Path, tmp_path: Path) -> None:
    """``loyalty-pos journal | head -3``: the reader goes away; no "internal error", no
    traceback, the exit status of a command stopped by a closed pipe."""
    assert run(home, "checkout", "--item", "MILK").returncode == 0  # a journal to print
    commands = [
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "journal"],
        [sys.executable, "-m", "loyalty_pos.ledger", "report", "--db", f"sqlite:///{tmp_path}/l.db",
         "--from", "2026-01-01", "--to", "2026-01-31"],
    ]  # fmt: skip
    for command in commands:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the command writes anything
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141, (command, err)
        assert "internal error" not in err and "Traceback" not in err, err


def test_the_demo_refuses_a_folder_holding_a_real_terminal_and_leaves_it_as_it_was(
    tmp_path: Path, home: Path
) -> None:
    """`demo --home` starts from a fresh copy of the demo store: on a till's own folder it would
    throw away its sales, backups and token, so it refuses there; a demo home is replaced."""
    import shutil

    till = tmp_path / "till"
    shutil.copytree(home, till)
    journal = run(till, "journal").stdout  # after a command has closed it: no -wal, no -shm
    before = sorted(p.relative_to(till) for p in till.rglob("*"))
    out = run(till, "demo", "--script", "--json")
    assert out.returncode == 2, out.stderr
    assert "holds a terminal, not the demo store" in json.loads(out.stderr)["message"]
    assert sorted(p.relative_to(till) for p in till.rglob("*")) == before
    assert run(till, "journal").stdout == journal

    demo = tmp_path / "demo"
    first = json.loads(run(demo, "demo", "--script", "--json").stdout)
    again = json.loads(run(demo, "demo", "--script", "--json").stdout)
    assert first["first_sale"]["receipt_id"] == again["first_sale"]["receipt_id"] == "DEMO1-000001"


@pytest.mark.parametrize(
    ("port", "said"),
    [
        ("usb:zzzz:1", "--serial 'usb:zzzz:1': must be a device path or usb:VID:PID"),
        ("", "--serial is empty: give the scanner's port"),
        (" ", "--serial is empty: give the scanner's port"),
    ],
)
def test_scan_names_a_bad_serial_port_as_typed_not_as_the_config(
    home: Path, port: str, said: str
) -> None:
    """QA: `scan --serial usb:zzzz:1` said "terminal.toml is invalid: scanner.port: ..." and
    "scanner.port: is required for an enabled scanner": the IT person looked in a config that
    holds no such port, for a value typed on the command line."""
    for extra in ((), ("--json",)):
        out = run(home, "scan", "--serial", port, "--timeout", "1", *extra)
        assert out.returncode == 2, out.stderr
        message = json.loads(out.stderr)["message"] if extra else out.stderr
        assert said in message and "terminal.toml" not in message, message


@pytest.mark.parametrize("module", ["loyalty_pos.cli", "loyalty_pos.nightly"])
def test_an_empty_home_is_refused_not_read_as_the_default_till(home: Path, module: str) -> None:
    """QA: `--home "$TILL"` with TILL unset in a script gave `--home ''`, which was read as no
    --home at all: the sale (or the nightly run) went to the till in $LOYALTY_POS_HOME or the
    data dir, another till than the one the script named."""
    before = journal_lines(home)
    backups = sorted((home / "backups").glob("*"))
    args = ("checkout", "--item", "MILK", "--at", AT) if module.endswith("cli") else ()
    for extra in ((), ("--json",)):
        out = subprocess.run(
            [sys.executable, "-m", module, "--home", "", *extra, *args],
            env={**os.environ, "LOYALTY_POS_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, out.stdout + out.stderr
        said = json.loads(out.stderr)["message"] if extra else out.stderr
        assert "--home is empty" in said and "Traceback" not in said
    assert journal_lines(home) == before
    assert sorted((home / "backups").glob("*")) == backups


@pytest.mark.parametrize("command", ["run", "demo"])
def test_the_checkout_app_started_without_a_terminal_says_so_instead_of_spinning(
    home: Path, tmp_path: Path, command: str
) -> None:
    """QA: `loyalty-pos run` started without a terminal (a service or cron job, ssh without -t,
    input from /dev/null) drew its screen into stderr and spun at most of a core, for as long as
    it was left, with no word of why no screen came. It is refused (exit 2) and says what it
    needs; the demo makes no demo store first."""
    target = home if command == "run" else tmp_path / "demo"
    for extra in ((), ("--json",)):
        out = subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", "--home", str(target), command, *extra],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 2, out.stderr[:300]
        said = json.loads(out.stderr)["message"] if extra else out.stderr
        assert "The checkout app needs a terminal" in said, said[:300]
        assert out.stdout == ""
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("loss", ["missing", "empty"])
def test_a_till_whose_cache_is_missing_or_empty_is_refused_as_damaged_not_started_again(
    tmp_path: Path, loss: str
) -> None:
    """A deleted or truncated ``terminal.db`` beside a ``terminal.toml`` is a till that lost its
    journal: refused with the sentence of a malformed cache (restore the nightly backup, or a
    new terminal id), never a new empty cache that ``verify`` finds in order and the nightly
    backs up in place of the good backups."""
    home = tmp_path / "t3"
    program = str(ROOT / "config" / "program.example.toml")
    init = run(home, "init", "--terminal-id", "T3", "--program", program, "--manager-pin", "1234")
    assert init.returncode == 0, init.stderr
    assert run(home, "checkout", "--line", "50:grocery", "--at", AT).returncode == 0
    assert nightly(home, "--date", "2026-11-22").returncode == 0
    backups = sorted((home / "backups").glob("*.db"))
    assert len(backups) == 1
    cache = home / "terminal.db"
    for leftover in (cache, home / "terminal.db-wal", home / "terminal.db-shm"):
        leftover.unlink(missing_ok=True)
    if loss == "empty":
        cache.write_bytes(b"")  # a crash or a full disk truncated it
    malformed = tmp_path / "malformed"
    shutil.copytree(home, malformed)
    (malformed / "terminal.db").write_bytes(b"this is not a database" * 100)

    for till in (home, malformed):
        for args in (("verify",), ("checkout", "--line", "5:grocery", "--at", AT)):
            out = run(till, "--json", *args)
            assert out.returncode == 1 and out.stdout == "", out.stderr
            error = json.loads(out.stderr)
            assert (error["error"], error["reason"]) == ("storage", "corrupt")
            assert "is damaged" in error["message"]
            assert "restore it from the nightly backup" in error["message"]
            assert "new terminal id" in error["message"]
        night = nightly(till, "--keep", "1")
        assert night.returncode == 2 and "is damaged" in night.stderr
        assert sorted((till / "backups").glob("*.db")) == [
            till / "backups" / b.name for b in backups
        ]
    said = json.loads(run(home, "--json", "verify").stderr)["message"]
    assert f"({'the file is ' + loss})" in said
    # Nothing was made in the cache's place; the backup the sentence names gets the till going.
    assert (cache.stat().st_size == 0) if loss == "empty" else not cache.exists()
    shutil.copyfile(backups[0], cache)
    out = run(home, "--json", "verify")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["events"] == 1


def test_redeem_max_names_min_cash_when_the_money_part_leaves_less_than_min_points(
    tmp_path: Path,
) -> None:
    """10 points pay 0.10, at least 5.00 in money, 50 points at the least: a 5.50 magazine
    leaves 0.50 (5 points) for points, so nothing is paid, and the sale says min_cash bit, not
    that a member with 1,000 points has too few."""
    example = (ROOT / "config" / "program.example.toml").read_text(encoding="utf-8")
    rules = {
        "points_per_unit = 100": "points_per_unit = 10",
        'min_cash = "1.00"': 'min_cash = "5.00"',
        'max_share = "1.0"': 'max_share = "0.3"',
        "min_points = 0": "min_points = 50",
    }
    for old, new in rules.items():
        assert old in example
        example = example.replace(old, new, 1)
    program = tmp_path / "program.toml"
    program.write_text(example, encoding="utf-8")
    home = tmp_path / "t2"
    init = run(
        home, "init", "--terminal-id", "T2", "--program", str(program), "--manager-pin", "1234"
    )
    assert init.returncode == 0, init.stderr
    assert run(home, "members", "import", str(ROOT / "config/demo/members.csv")).returncode == 0
    assert run(home, "catalog", "import", str(ROOT / "config/demo/catalog.csv")).returncode == 0
    adjust = ("adjust", "LC00100037", "1000", "--reason", "welcome", "--manager-pin", "1234")
    assert run(home, *adjust, "--at", "2026-05-01T10:00:00").returncode == 0
    out = run(
        home, "--json", "checkout", "--card", "LC00100037", "--item", "MAGAZINE",
        "--redeem", "max", "--at", "2026-05-05T11:00:00",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    sale = json.loads(out.stdout)
    assert (sale["total"], sale["points_redeemed"]) == ("5.50", 0)
    assert sale["points_limit"] == (
        "at least 5.00 EUR must be paid in money; what that leaves for points is below the "
        "smallest points payment (50)"
    )


def test_a_program_and_config_saved_with_a_byte_order_mark_are_read_as_the_ledger_reads_them(
    tmp_path: Path,
) -> None:
    """Notepad's "UTF-8 with BOM": the file `loyalty-ledger program set` takes sets up a
    standalone till too (`init`, `program set`), and a config saved so still opens and is
    rewritten (`pin set`) without the mark."""
    bom = b"\xef\xbb\xbf"
    example = (ROOT / "config" / "program.example.toml").read_text(encoding="utf-8")
    first = tmp_path / "program.toml"
    first.write_bytes(bom + example.encode("utf-8"))
    home = tmp_path / "t11"
    out = run(home, "--json", "init", "--terminal-id", "T11", "--program", str(first))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["program_version"] == 1
    assert "\nversion = 1 " in example
    second = tmp_path / "program-v2.toml"
    second.write_bytes(bom + example.replace("\nversion = 1 ", "\nversion = 2 ", 1).encode())
    out = run(home, "--json", "program", "set", str(second))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == 2

    config = home / "terminal.toml"
    config.write_bytes(bom + config.read_bytes())
    assert run(home, "enroll", "--card", "LC55550011", "--at", AT).returncode == 0
    assert run(home, "pin", "set", "--new-pin", "2468").returncode == 0
    assert not config.read_bytes().startswith(bom)
    out = run(home, "--json", "verify")
    assert out.returncode == 0 and json.loads(out.stdout)["events"] == 1, out.stderr


def _a_till_with_a_night(tmp_path: Path) -> Path:
    home = tmp_path / "t4"
    program = str(ROOT / "config" / "program.example.toml")
    init = run(home, "init", "--terminal-id", "T4", "--program", program, "--manager-pin", "1234")
    assert init.returncode == 0, init.stderr
    assert run(home, "members", "import", str(ROOT / "config/demo/members.csv")).returncode == 0
    assert (
        run(home, "checkout", "--card", "LC00100037", "--line", "50:grocery", "--at", AT).returncode
        == 0
    )
    night = nightly(home, "--date", AT[:10])
    assert night.returncode == 0, night.stderr
    return home


def test_a_nightly_run_whose_verify_fails_keeps_the_good_backups_and_the_damaged_copy_aside(
    tmp_path: Path,
) -> None:
    """QA: a cache whose journal no longer verifies was backed up each night over the good
    backups, until after --keep nights none was left from before the damage."""
    home = _a_till_with_a_night(tmp_path)
    good = sorted((home / "backups").glob("terminal-*.db"))
    assert len(good) == 1
    # the members' names and emails are in it: the till's user alone reads it (QA)
    assert good[0].stat().st_mode & 0o777 == 0o600
    assert (home / "backups").stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(home / "terminal.db") as db:  # a damaged or tampered journal
        db.execute("DROP TRIGGER journal_no_update")
        db.execute(
            "UPDATE journal SET body = replace(body, '\"due_minor\":5000', '\"due_minor\":500')"
        )
    db.close()
    for _ in range(3):
        night = nightly(home, "--date", AT[:10], "--keep", "1")
        assert night.returncode == 1
        assert "verify found problems" in night.stderr and "Traceback" not in night.stderr
        assert "older backups are not pruned" in night.stderr
        time.sleep(1.1)  # a backup's name has the second it was taken
    assert sorted((home / "backups").glob("terminal-*.db")) == good
    assert len(list((home / "backups").glob("unverified-terminal-*.db"))) == 3


def test_verify_that_finds_problems_is_a_fault_said_on_stderr_after_its_listing(
    tmp_path: Path,
) -> None:
    """QA: verify finding a tampered journal exited 2, a refusal of what was typed, and said
    nothing on stderr, where a script reads an error: the cache that cannot be trusted is a
    fault (1), as a cache that does not open is, and the listing stays on stdout."""
    home = _a_till_with_a_night(tmp_path)
    with sqlite3.connect(home / "terminal.db") as db:
        db.execute("DROP TRIGGER journal_no_update")
        db.execute(
            "UPDATE journal SET body = replace(body, '\"due_minor\":5000', '\"due_minor\":5')"
        )
    db.close()
    out = run(home, "--json", "verify")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert (
        not result["ok"]
        and result["problems"][0] == "seq 1: hash does not match the event's content"
    )
    error = json.loads(out.stderr)
    assert (error["error"], error["reason"]) == ("storage", "corrupt")
    assert error["message"].startswith(f"The database {home / 'terminal.db'} is damaged (verify")
    assert "restore it from the nightly backup" in error["message"]
    out = run(home, "verify")
    assert out.returncode == 1 and "ok: False" in out.stdout
    assert out.stderr.startswith("loyalty-pos: The database") and "found 1 problem)" in out.stderr


def test_a_nightly_run_on_a_journal_row_damaged_beyond_reading_names_it_without_a_traceback(
    tmp_path: Path,
) -> None:
    """A journal row whose text is no longer JSON ended the nightly job in a traceback at
    verify: no copy of the damaged cache was kept aside and no report said what was wrong."""
    home = _a_till_with_a_night(tmp_path)
    with sqlite3.connect(home / "terminal.db") as db:
        db.execute("DROP TRIGGER journal_no_update")
        db.execute("UPDATE journal SET body = substr(body, 1, 40) WHERE seq = 1")
    db.close()
    night = nightly(home, "--date", AT[:10])
    assert night.returncode == 1 and "Traceback" not in night.stderr
    assert "FAILED verify: verify found problems: seq 1: the event's text is damaged" in (
        night.stderr
    )
    assert "FAILED report: The journal's event at seq 1 in" in night.stderr
    assert len(list((home / "backups").glob("unverified-terminal-*.db"))) == 1
    out = run(home, "report", "--date", AT[:10])
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "event at seq 1" in out.stderr and "is damaged" in out.stderr


def test_a_backup_that_cannot_be_written_whole_is_removed_and_named_in_the_error(
    tmp_path: Path,
) -> None:
    """QA: a full disk left a 0-byte backup as the newest, and the log blamed the till's cache
    ("database or disk is full"). A file-size limit stands in for the full disk."""
    home = _a_till_with_a_night(tmp_path)
    good = sorted((home / "backups").glob("terminal-*.db"))
    size = (home / "terminal.db").stat().st_size
    time.sleep(1.1)

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, size // 2))

    night = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.nightly", "--home", str(home), "--date", AT[:10]],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_files,
    )
    assert night.returncode == 1, night.stderr
    assert "cannot write the backup " + str(home / "backups" / "terminal-") in night.stderr
    assert "the backups before it are as they were" in night.stderr
    assert sorted((home / "backups").glob("*.db")) == good  # no partial copy left


def test_a_backup_named_by_a_clock_gone_back_is_kept_and_the_night_says_so(
    tmp_path: Path,
) -> None:
    """QA: a till whose clock went back (reset to a past year) named its backup before the ones
    made earlier; the pruning took it as the oldest and removed it at once, while the step said
    ok and named it: each night made no backup at all."""
    home = _a_till_with_a_night(tmp_path)
    (good,) = (home / "backups").glob("terminal-*.db")
    later = [home / "backups" / f"terminal-2099010{d}-023000.db" for d in range(1, 8)]
    for path in later:  # the backups of nights when the clock ran ahead
        shutil.copy(good, path)
    good.unlink()
    night = nightly(home, "--date", AT[:10], "--keep", "7", "--json")
    assert night.returncode == 1, night.stderr
    made = Path(json.loads(night.stdout)["backup"]["error"].split()[2])
    assert made.is_file() and made.name < later[0].name
    with sqlite3.connect(made) as db:  # the sale is in it
        assert db.execute("SELECT count(*) FROM journal").fetchone() == (1,)
    db.close()
    assert sorted((home / "backups").glob("terminal-*.db")) == [made, *later]  # none pruned
    assert "Traceback" not in night.stderr
    assert "is behind the one that named them. Set the clock right" in night.stderr
    for path in later:  # the clock set right, the later-named ones moved out
        path.unlink()
    for _ in range(3):
        time.sleep(1.1)  # a backup's name has the second it was taken
        night = nightly(home, "--date", AT[:10], "--keep", "2")
        assert night.returncode == 0, night.stderr
    assert len(list((home / "backups").glob("terminal-*.db"))) == 2
    # one named in the coming hour (the hour the clocks go back in autumn) is no clock fault
    soon = home / "backups" / f"terminal-{datetime.now() + timedelta(minutes=40):%Y%m%d-%H%M%S}.db"
    shutil.copy(max((home / "backups").glob("terminal-*.db")), soon)
    night = nightly(home, "--date", AT[:10], "--keep", "2", "--json")
    assert night.returncode == 0, night.stderr
    made = Path(json.loads(night.stdout)["backup"])
    assert sorted((home / "backups").glob("terminal-*.db")) == [made, soon]


def test_a_nightly_run_killed_mid_backup_leaves_no_part_of_a_copy_as_a_backup(
    tmp_path: Path,
) -> None:
    """QA: a run killed while it copied (a power cut at night, the timer's stop timeout) left
    the part it had written as the newest terminal-*.db: no restore could open it, and the
    pruning counted it as one of the backups kept."""
    home = _a_till_with_a_night(tmp_path)
    (good,) = (home / "backups").glob("terminal-*.db")
    with sqlite3.connect(home / "terminal.db") as db:  # a cache that takes a while to copy
        db.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 60000) "
            "INSERT INTO catalog (sku, name, price_minor, category) "
            "SELECT 'FILL' || x, printf('%.1000c', 'x'), 100, 'fill' FROM n"
        )
    db.close()
    time.sleep(1.1)  # a backup's name has the second it was taken
    night = subprocess.Popen(
        [sys.executable, "-m", "loyalty_pos.nightly", "--home", str(home), "--date", AT[:10]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while not seen and night.poll() is None and time.monotonic() < deadline:
        seen = [p.name for p in (home / "backups").iterdir() if p != good and p.stat().st_size]
    night.send_signal(signal.SIGKILL)
    assert night.wait() == -signal.SIGKILL and seen  # killed while it wrote the copy
    assert sorted((home / "backups").glob("terminal-*.db")) == [good]
    night = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.nightly", "--home", str(home), "--date", AT[:10]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert night.returncode == 0, night.stderr
    backups = sorted((home / "backups").iterdir())
    assert len(backups) == 2 and backups[0] == good  # the killed run's part is gone
    with sqlite3.connect(backups[1]) as db:
        assert db.execute("SELECT count(*) FROM catalog").fetchone()[0] >= 60000
    db.close()


def test_a_nightly_run_whose_report_fails_prints_no_earlier_report_as_tonights(
    tmp_path: Path,
) -> None:
    """QA: the report step failed, and the job printed the earlier run's report file as if it
    were tonight's (cron mails it to the owner)."""
    home = _a_till_with_a_night(tmp_path)
    reports = home / "reports"
    earlier = {p.name: p.read_text() for p in reports.iterdir()}
    (reports / f"{AT[:10]}.txt").write_text("EARLIER RUN\n")
    earlier[f"{AT[:10]}.txt"] = "EARLIER RUN\n"
    (reports / f"{AT[:10]}.txt.tmp").mkdir()  # the text cannot be written
    night = nightly(home, "--date", AT[:10])
    assert night.returncode == 1
    assert "FAILED report" in night.stderr and "Traceback" not in night.stderr
    assert night.stdout == ""
    # the pair is as the earlier run left it: no new .json beside an old .txt
    assert {p.name: p.read_text() for p in reports.iterdir() if p.is_file()} == earlier
    (reports / f"{AT[:10]}.txt.tmp").rmdir()
    night = nightly(home, "--date", AT[:10])
    assert night.returncode == 0 and "EARLIER RUN" not in night.stdout
    assert "Checkouts" in night.stdout or "checkouts" in night.stdout.lower()


def test_with_json_the_nightly_job_says_why_it_does_not_start_in_json(tmp_path: Path) -> None:
    """QA: with --json, a run that did not start printed a log line, and exit 3 (another run
    holds the lock) was documented nowhere."""
    import fcntl

    home = _a_till_with_a_night(tmp_path)
    out = nightly(home, "--json", "--keep", "0")
    assert out.returncode == 2 and out.stdout == ""
    assert json.loads(out.stderr) == {
        "error": "refused",
        "message": "--keep must be at least 1 (got 0)",
    }
    with (home / "nightly.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a run in progress
        out = nightly(home, "--json")
    assert out.returncode == 3 and out.stdout == ""
    said = json.loads(out.stderr)
    assert said["error"] == "busy" and "another nightly run holds" in said["message"]


def test_wrong_pins_tried_at_the_same_time_are_checked_no_more_than_the_lockout_allows(
    tmp_path: Path,
) -> None:
    """QA: 30 `adjust` commands run in parallel each checked their PIN before any failure was
    counted: 29 wrong PINs were tried, and the right one among them went through."""
    home = tmp_path / "t1"
    program = str(ROOT / "config" / "program.example.toml")
    assert run(home, "init", "--terminal-id", "T1", "--program", program, "--manager-pin", "2468")
    assert run(home, "members", "import", str(ROOT / "config/demo/members.csv")).returncode == 0
    tries = [
        subprocess.Popen(
            [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "--json", "adjust"]
            + ["LC00100037", "5", "--reason", f"guess {i}", "--manager-pin", f"99{i:02d}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(12)
    ]
    answers = [json.loads(p.communicate(timeout=120)[1])["reason"] for p in tries]
    assert answers.count("wrong_pin") == 5
    assert answers.count("locked") == 7
    right = run(
        home, "--json", "adjust", "LC00100037", "5", "--reason", "x", "--manager-pin", "2468"
    )
    assert right.returncode == 2 and json.loads(right.stderr)["reason"] == "locked"
    assert journal_lines(home) == []


def test_token_from_a_keyboard_is_asked_for_and_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QA: `init ... --token -` typed at a terminal, as the README's set-up says, waited without
    a word for a line on stdin, and the pasted token showed on the screen. At a terminal it is
    asked for by name, without echo; piped (``echo $TOKEN |``), it is read as before."""
    import io

    from loyalty_pos import cli

    asked: list[str] = []

    class Keyboard(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Keyboard("not read from here\n"))
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "lpt_typed")
    assert cli._token_arg("-") == "lpt_typed"
    assert asked and "Ledger token" in asked[0] and "not shown" in asked[0]
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufefflpt_piped\n"))
    assert cli._token_arg("-") == "lpt_piped\n"
    assert len(asked) == 1


def test_ctrl_d_at_the_token_prompt_is_no_token_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Ctrl+D at the prompt ended in "internal error (EOFError)" and made the --home folder
    for its error.log; it is no token, which init says."""
    import io

    from loyalty_pos import cli

    class Keyboard(io.StringIO):
        def isatty(self) -> bool:
            return True

    def ctrl_d(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin", Keyboard(""))
    monkeypatch.setattr("getpass.getpass", ctrl_d)
    home = tmp_path / "t"
    program = str(ROOT / "config/program.example.toml")
    code = cli.main(
        ["init", "--home", str(home), "--terminal-id", "T1", "--program", program,
         "--ledger-url", "http://127.0.0.1:9", "--token", "-"]
    )  # fmt: skip
    assert code == 2 and not home.exists()


def test_token_set_moves_a_token_written_inline_in_terminal_toml_to_its_own_file(
    tmp_path: Path,
) -> None:
    """README: "a token written inline in terminal.toml moves there" (to ledger.token). QA: it
    was refused, "ledger.token_file: cannot read .../ledger.token", since the new config was
    checked, token file and all, before that file was written."""
    home = tmp_path / "t"
    program = str(ROOT / "config/program.example.toml")
    made = run(home, "init", "--terminal-id", "T1", "--program", program, "--manager-pin", "1234")
    assert made.returncode == 0
    config = home / "terminal.toml"
    config.write_text(
        config.read_text().replace(
            '[ledger]\nurl = ""', '[ledger]\nurl = "http://127.0.0.1:9"\ntoken = "lpt_old"'
        )
    )
    assert not (home / "ledger.token").exists()
    done = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "token", "set"]
        + ["--token", "-", "--manager-pin", "1234"],
        input="lpt_new\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (home / "ledger.token").read_text() == "lpt_new\n"
    assert (home / "ledger.token").stat().st_mode & 0o777 == 0o600
    ledger = tomllib.loads(config.read_text())["ledger"]
    assert "token" not in ledger and ledger["token_file"] == str(home / "ledger.token")
    assert "lpt_old" not in config.read_text()
    assert run(home, "verify").returncode == 0  # the till opens with it


def test_token_set_gives_a_till_whose_token_file_is_lost_a_new_one(tmp_path: Path) -> None:
    """README: a till's token lost is replaced with `token set`. QA: with `ledger.token` gone,
    every command, `token set` too, said "terminal.toml is invalid: ledger.token_file: cannot
    read", so the command that mends it could not run; the others still say so."""
    home = tmp_path / "t"
    program = str(ROOT / "config/program.example.toml")
    made = run(
        home, "init", "--terminal-id", "T1", "--program", program, "--manager-pin", "1234",
        "--ledger-url", "http://127.0.0.1:9", "--token", "lpt_old",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (home / "ledger.token").unlink()
    lost = run(home, "verify")
    assert lost.returncode == 2 and "ledger.token_file: cannot read" in lost.stderr
    assert "loyalty-pos token set" in lost.stderr  # says how to mend it
    wrong_pin = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "token", "set"]
        + ["--token", "-", "--manager-pin", "9999"],
        input="lpt_new\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert wrong_pin.returncode == 2 and "PIN" in wrong_pin.stderr
    assert not (home / "ledger.token").exists()
    done = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "token", "set"]
        + ["--token", "-", "--manager-pin", "1234"],
        input="lpt_new\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (home / "ledger.token").read_text() == "lpt_new\n"
    assert run(home, "verify").returncode == 0


@pytest.mark.parametrize(
    ("zone", "at", "said"),
    [
        ("", "1970-01-01T00:30+01:00", "1969-12-31 23:30 in the store's time"),
        ("", "2999-12-31T23:30-01:00", "3000-01-01 00:30 in the store's time"),
        ("America/New_York", "1970-01-01T02:00+00:00", "1969-12-31 21:00 in the store's time"),
        ("Asia/Tokyo", "1970-01-01T00:30", "1969-12-31 15:30 UTC"),
    ],
)
def test_an_at_inside_the_years_that_the_store_s_time_puts_outside_them_is_refused(
    tmp_path: Path, zone: str, at: str, said: str
) -> None:
    """QA: `--at 1970-01-01T00:30+01:00` at a till on UTC recorded a sale of 1969 (its points
    earned on 1969-12-31), and `2999-12-31T23:30-01:00` one of the year 3000: the years were
    checked as typed, not in the store's time the sale is recorded in."""
    home = tmp_path / "t"
    program = str(ROOT / "config" / "program.example.toml")
    init = ("init", "--terminal-id", "T8", "--program", program, "--manager-pin", "2468")
    assert run(home, *init).returncode == 0
    config = home / "terminal.toml"
    config.write_text(config.read_text().replace('id = "T8"', f'id = "T8"\ntimezone = "{zone}"'))
    env_zone = {"TZ": "UTC"}
    for args in (("enroll", "--card", "LC55550003"), ("balance", "LC55550003")):
        out = subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), *args, "--at", at],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env_zone},
        )
        assert out.returncode == 2, out.stdout
        assert out.stderr == (
            f"loyalty-pos: --at {at!r} is {said}, outside 1970 to 2999: give a time "
            "inside those years.\n"
        )
    assert journal_lines(home) == []


def test_devices_without_pcscd_says_to_start_it_and_that_the_app_finds_the_reader(
    home: Path, tmp_path: Path
) -> None:
    """`loyalty-pos devices` with pcscd not running said "the card reader will come back by
    itself", the app's words, to someone who ran a listing that ends at once: it says how to
    start the service, and who finds the reader then. No pcscd answers here (the PC/SC client
    is pointed at a socket no service listens on)."""
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd" / "pcscd.comm")}
    out = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "devices", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert json.loads(out.stdout)["pcsc"] == {
        "state": "absent",
        "reason": "The PC/SC service (pcscd) is not running: start it (sudo systemctl start "
        "pcscd.socket; see hardware/README.md, 'PC/SC card readers'); a running checkout app "
        "then finds the reader by itself, and `loyalty-pos devices` lists it.",
    }


def test_card_read_without_pcscd_says_to_start_it_and_read_again(
    home: Path, tmp_path: Path
) -> None:
    """QA: `card read` with pcscd not running said the reader "will come back by itself", the
    app's words for its reader loop: a one-shot command waits for nothing, so it ended and the
    reader came back to no one. No pcscd answers here: the PC/SC client is pointed at a socket
    that no service listens on."""
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd" / "pcscd.comm")}
    said = (
        "The PC/SC service (pcscd) is not running: start it (sudo systemctl start "
        "pcscd.socket; see hardware/README.md, 'PC/SC card readers'), then run `loyalty-pos "
        "card read` again."
    )
    for json_flag in ((), ("--json",)):
        out = subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "card", "read"]
            + ["--timeout", "1", *json_flag],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert out.returncode == 1, out.stderr  # a device fault (README, "The headless CLI")
        assert out.stdout == ""
        if json_flag:
            assert json.loads(out.stderr) == {"error": "device", "message": said, "device": "pcsc"}
        else:
            assert out.stderr == f"loyalty-pos: {said}\n"


def test_every_command_s_help_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    """QA: `loyalty-pos checkout --help` (and every other command's) showed its usage and
    options only; what the command does was in the list of `loyalty-pos --help` alone."""
    assert_each_help_says_what_it_does(build_parser(), main, capsys, at_least=20)
