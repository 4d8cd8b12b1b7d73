"""The ``loyalty-ledger`` admin CLI over the same store: output, exit codes, all-or-nothing import.

Most cases call ``main()`` in-process (same code, faster); one runs the real command to show that
errors reach a person as a sentence and never as a traceback.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ledger_helpers import free_port, subprocess_env

from loyalty_pos.cli import main as till_main
from loyalty_pos.ledger.cli import _parser, main
from loyalty_pos.ledger.db import make_engine
from loyalty_pos.ledger.schema import metadata
from loyalty_pos.ledger.store import LedgerStore
from tests.support.cli_help import assert_each_help_says_what_it_does

PROGRAM = Path(__file__).with_name("program.toml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_terminal_add_prints_the_token_once_and_revoke_takes_it_away(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "terminal", "add", "T1", "--db", db_url)
    assert code == 0
    token = out.strip()
    assert token.startswith("lpt_") and "\n" not in token
    store = LedgerStore.open(db_url)
    try:
        assert store.authenticate(token) == "T1"
    finally:
        store.close()

    code, out, err = run(capsys, "terminal", "add", "T1", "--db", db_url, "--json")
    assert code == 2
    assert json.loads(err)["error"] == "conflict"

    assert run(capsys, "terminal", "revoke", "T1", "--db", db_url)[0] == 0
    code, _, err = run(capsys, "terminal", "revoke", "NOPE", "--db", db_url)
    assert code == 2 and err.startswith("loyalty-ledger: no terminal")
    code, out, _ = run(capsys, "terminal", "add", "T2", "--db", db_url, "--json")
    assert code == 0 and json.loads(out)["terminal_id"] == "T2"


def test_members_import_is_all_or_nothing_and_names_the_lines(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "member_id,card,name,birthday,email\n"
        "M1,C1,Ann,1990-01-31,ann@example.org\n"
        "M2,C1,Bob,,\n"
        "M3,C3,Cid,31/01/1990,\n"
        "M1,C4,Dup,,\n"
        "M6,C6,Eve,19900131,\n"
        "M7,C7,Fay\x1b@,,\n"
        "M8,C8,Zoe,,zoe@example\n"
    )
    code, _, err = run(capsys, "members", "import", str(bad), "--db", db_url)
    assert code == 2
    assert "nothing imported" in err
    assert "line 3" in err and "line 4" in err and "line 5" in err
    assert "line 6: birthday '19900131' is not a date YYYY-MM-DD" in err
    assert "line 7: name holds a control character (U+001B at position 4)" in err
    assert "line 8: email 'zoe@example' is not an email address: its domain" in err

    good = tmp_path / "good.csv"
    good.write_text(
        "member_id,card,name,birthday,email\nM1,C1,Ann,1990-01-31,ann@example.org\nM2,,Bob,,\n"
    )
    code, out, _ = run(capsys, "members", "import", str(good), "--db", db_url, "--json")
    assert code == 0 and json.loads(out) == {"imported": 2}
    code, _, err = run(capsys, "members", "import", str(good), "--db", db_url)
    assert code == 2 and "already exists" in err

    store = LedgerStore.open(db_url)
    try:
        snap = store.card_snapshot("C1")
        assert snap["member_id"] == "M1" and snap["birthday"] == "1990-01-31"
        assert store.audit()["events"] == 2
    finally:
        store.close()
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,card\nM9,C9\n")
    code, _, err = run(capsys, "members", "import", str(wrong), "--db", db_url)
    assert code == 2 and "line 1" in err


def test_files_saved_with_a_byte_order_mark_are_read(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Excel's "CSV UTF-8" starts the file with a BOM (and ends lines with CRLF); the BOM was
    # read as part of the first column's name: "missing member_id (unknown \ufeffmember_id)".
    excel = tmp_path / "excel.csv"
    excel.write_bytes(
        "member_id,card,name,birthday,email\r\nM1,C1,Zoë,1990-01-31,\r\nM2,,Bob,,\r\n".encode(
            "utf-8-sig"
        )
    )
    code, out, err = run(capsys, "members", "import", str(excel), "--db", db_url, "--json")
    assert (code, err) == (0, "") and json.loads(out) == {"imported": 2}
    program = tmp_path / "program.toml"
    program.write_bytes(PROGRAM.read_text().encode("utf-8-sig"))
    assert run(capsys, "program", "set", str(program), "--db", db_url)[0] == 0

    store = LedgerStore.open(db_url)
    try:
        assert store.card_snapshot("C1")["name"] == "Zoë"
        assert store.member_view("M2")["name"] == "Bob"
    finally:
        store.close()


def test_program_set_validates_the_file(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "program", "set", str(PROGRAM), "--db", db_url)[0] == 0
    # QA: the README's set-up run a second time stopped here: the program in force, given
    # again, stores nothing and is no error
    code, out, err = run(capsys, "program", "set", str(PROGRAM), "--db", db_url)
    assert (code, err) == (0, "") and "version 1 is the one in force already" in out
    changed = tmp_path / "changed.toml"
    changed.write_text(PROGRAM.read_text().replace("points_per_unit = 1 ", "points_per_unit = 2 "))
    code, _, err = run(capsys, "program", "set", str(changed), "--db", db_url)
    assert code == 2 and "not above the current version 1" in err  # other rules: a new version
    store = LedgerStore.open(db_url)
    try:
        assert store.current_program().program.earn.points_per_unit == 1
    finally:
        store.close()

    broken = tmp_path / "broken.toml"
    broken.write_text(
        PROGRAM.read_text()
        .replace("version = 1", "version = 2")
        .replace('max_share = "1.0"', 'max_share = "2"\ntypo = 1')
    )
    code, _, err = run(capsys, "program", "set", str(broken), "--db", db_url, "--json")
    problem = json.loads(err)
    assert code == 2 and problem["error"] == "config"
    assert any("max_share" in p for p in problem["problems"])
    assert any("typo" in p for p in problem["problems"])
    code, _, err = run(capsys, "program", "set", str(tmp_path / "missing.toml"), "--db", db_url)
    assert code == 2 and "cannot read" in err


def test_program_set_refuses_another_currency(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "program", "set", str(PROGRAM), "--db", db_url)[0] == 0
    yen = tmp_path / "yen.toml"
    yen.write_text(
        PROGRAM.read_text()
        .replace("version = 1", "version = 2")
        .replace('currency = "EUR"', 'currency = "JPY"')
    )
    code, out, err = run(capsys, "program", "set", str(yen), "--db", db_url)
    assert code == 2 and out == ""
    assert "currency is JPY" in err and "in EUR" in err and "Traceback" not in err
    store = LedgerStore.open(db_url)
    try:
        current = store.current_program()
        assert current is not None and current.version == 1
        assert current.program.currency == "EUR"
    finally:
        store.close()


def test_a_members_file_wrong_on_every_line_shows_its_first_twenty_problems(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `loyalty-pos` says them: a file wrong on each of its lines printed every problem, a
    screenful per hundred lines, the first ones scrolled away; --json still gives them all."""
    bad = tmp_path / "bad.csv"
    rows = "".join(f"M{n},C{n},Name {n},31/01/1990,\n" for n in range(45))
    bad.write_text("member_id,card,name,birthday,email\n" + rows)
    code, _, err = run(capsys, "members", "import", str(bad), "--db", db_url)
    assert code == 2
    listed = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(listed) == 20
    assert listed[0].endswith("line 2: birthday '31/01/1990' is not a date YYYY-MM-DD")
    assert err.splitlines()[-1] == "  ... and 25 more problems (with --json, all of them)"
    code, _, err = run(capsys, "members", "import", str(bad), "--db", db_url, "--json")
    assert code == 2 and len(json.loads(err)["problems"]) == 45


def test_a_members_row_with_a_cell_too_many_is_told_as_the_till_tells_it(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: the same members file with a name "Smith, Anna" written without quotes was "more
    cells than columns" at the ledger and "wrong number of fields" at the till; neither said
    which cell or what to do. Both now say it in the same words."""
    members = tmp_path / "members.csv"
    members.write_text(
        "member_id,card,name,birthday,email\nM1,LC91010001,Ann,,\n"
        "M2,LC91010002,Smith, Anna,1990-01-31,\n"
    )
    said = (
        "line 3: 6 cells where the file has 5 columns (member_id,card,name,birthday,email): "
        'a cell holding a comma (a name such as Smith, Anna) goes in double quotes ("Smith, '
        'Anna"), as a spreadsheet\'s "CSV UTF-8" writes it'
    )
    code, _, err = run(capsys, "members", "import", str(members), "--db", db_url)
    assert code == 2 and f"{members}: {said}" in err, err
    assert "1 problem(s), nothing imported" in err  # not the shifted cells' birthday and email
    home = tmp_path / "till"
    assert (
        till_main(
            [
                "--home",
                str(home),
                "init",
                "--terminal-id",
                "T1",
                "--program",
                str(PROGRAM),
                "--manager-pin",
                "2468",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert till_main(["--home", str(home), "members", "import", str(members)]) == 2
    assert f"  - {said}\n" in capsys.readouterr().err
    store = LedgerStore.open(db_url)
    try:
        assert store.audit()["events"] == 0  # nothing imported
    finally:
        store.close()


def test_expire_and_report_print_text_or_json(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "expire", "--at", "2026-01-01", "--db", db_url, "--json")
    assert code == 0 and json.loads(out)["lots"] == 0
    code, out, _ = run(
        capsys, "report", "--from", "2026-01-01", "--to", "2026-01-31", "--db", db_url
    )
    assert code == 0 and "outstanding 0 points" in out
    code, out, _ = run(
        capsys, "report", "--from", "2026-01-01", "--to", "2026-01-31", "--db", db_url, "--json"
    )
    assert code == 0 and json.loads(out)["checkouts"]["all"] == 0
    code, _, err = run(
        capsys, "report", "--from", "2026-02-01", "--to", "2026-01-01", "--db", db_url
    )
    assert code == 2 and "--to" in err
    code, _, err = run(capsys, "expire", "--at", "soon", "--db", db_url)
    assert code == 2 and "--at" in err
    code, _, err = run(capsys, "expire", "--at", "2999-01-01", "--db", db_url)
    assert code == 2 and "in the future" in err and "Traceback" not in err
    # days at the ends of the calendar: refused by name, not an overflow
    for first, last in (("0001-01-01", "2026-01-31"), ("2026-01-01", "9999-12-31")):
        code, _, err = run(capsys, "report", "--from", first, "--to", last, "--db", db_url)
        assert code == 2 and "out of range" in err and "Traceback" not in err


def test_with_json_a_command_line_that_cannot_be_read_is_a_json_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (("--json", "terminal", "add"), ("expire", "--bogus", "--json")):
        with pytest.raises(SystemExit) as ended:
            main(list(argv))
        assert ended.value.code == 2
        out, err = capsys.readouterr()
        assert out == "" and json.loads(err)["error"] == "usage", err
    with pytest.raises(SystemExit):
        main(["terminal", "add"])
    assert capsys.readouterr().err.startswith("loyalty-ledger terminal add: the following")


def test_database_problems_are_sentences(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOYALTY_LEDGER_DB", raising=False)
    code, _, err = run(capsys, "expire")
    assert code == 2 and "--db" in err
    code, _, err = run(capsys, "expire", "--db", "mysql://x/y")
    assert code == 2 and "unsupported database" in err
    code, _, err = run(capsys, "expire", "--db", "postgresql://postgres@127.0.0.1:1/nope")
    assert code == 1 and "cannot open the ledger database" in err


def test_a_sqlite_url_with_three_slashes_names_the_folder_it_looked_in(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """QA: the README's ``sqlite:///var/lib/loyalty/ledger.db`` is a relative path; run from
    another folder it said "folder var/lib/loyalty does not exist" of a folder that exists."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "expire", "--db", "sqlite:///var/lib/loyalty/ledger.db")
    assert code == 2
    assert f"folder {tmp_path}/var/lib/loyalty does not exist" in err
    assert "four slashes: sqlite:////var/lib/loyalty/ledger.db" in err
    code, _, err = run(capsys, "expire", "--db", f"sqlite:///{tmp_path}/none/ledger.db")
    assert code == 2 and f"folder {tmp_path}/none does not exist" in err
    assert "slashes" not in err  # an absolute path needs no hint


def test_a_database_url_from_the_environment_is_named_as_the_variable_that_holds_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """QA: set up as the README does (`export LOYALTY_LEDGER_DB=...`, no --db typed), a URL
    whose folder does not exist said "--db is invalid", of an option nobody had typed."""
    wrong = f"sqlite:///{tmp_path}/none/ledger.db"
    monkeypatch.setenv("LOYALTY_LEDGER_DB", wrong)
    code, _, err = run(capsys, "expire")
    assert code == 2
    assert err.startswith("loyalty-ledger: $LOYALTY_LEDGER_DB is invalid:\n")
    assert f"folder {tmp_path}/none does not exist" in err and "--db" not in err
    code, _, err = run(capsys, "expire", "--json")
    assert code == 2 and json.loads(err)["file"] == "$LOYALTY_LEDGER_DB"
    code, _, err = run(capsys, "expire", "--db", wrong)  # typed: named as typed, over the variable
    assert code == 2 and err.startswith("loyalty-ledger: --db is invalid:\n")


def test_the_real_command_fails_with_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loyalty_pos.ledger",
            "members",
            "import",
            str(tmp_path / "none.csv"),
            "--db",
            f"sqlite:///{tmp_path / 'l.db'}",
        ],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("loyalty-ledger: cannot read")
    assert "Traceback" not in proc.stderr


def test_the_migrations_build_exactly_the_schema_the_code_uses(db_url: str) -> None:
    LedgerStore.open(db_url).close()
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"events", "transfers", "members", "terminals", "alembic_version"} <= tables


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl as an IT person would."""
    cert, key = folder / "ledger.crt", folder / "ledger.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_serve_speaks_tls_with_a_certificate_and_a_till_that_trusts_it_syncs(
    tmp_path: Path,
) -> None:
    """QA: the ledger README says TLS is terminated in front of the service "or with uvicorn's
    own TLS options", but `loyalty-ledger serve` took none of them."""
    cert, key = self_signed_certificate(tmp_path)
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = subprocess_env()
    ledger = [sys.executable, "-m", "loyalty_pos.ledger"]
    added = subprocess.run(
        [*ledger, "terminal", "add", "T1", "--db", db, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = json.loads(added.stdout)["token"]
    port = free_port()
    serve = [*ledger, "serve", "--db", db, "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(
        [*serve, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"https://127.0.0.1:{port}/v1/health", verify=trusted)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        home = tmp_path / "till"
        till = [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home)]
        subprocess.run(
            [*till, "init", "--terminal-id", "T1", "--program", str(PROGRAM)]
            + ["--ledger-url", f"https://127.0.0.1:{port}", "--token", token],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        synced = subprocess.run(
            [*till, "sync", "--json"],
            env={**env, "SSL_CERT_FILE": str(cert)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["online"] is True
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--ssl-certfile", "CERT"], "--ssl-certfile and --ssl-keyfile go together"),
        (["--ssl-keyfile", "KEY"], "--ssl-certfile and --ssl-keyfile go together"),
        (["--ssl-certfile", "CERT", "--ssl-keyfile", "CERT"], "--ssl-keyfile"),
        (["--ssl-certfile", "NONE", "--ssl-keyfile", "KEY"], "cannot read"),
    ],
)
def test_serve_refuses_a_tls_certificate_it_cannot_use_in_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    paths = {"CERT": str(cert), "KEY": str(key), "NONE": str(tmp_path / "none.crt")}
    argv = ["serve", "--db", f"sqlite:///{tmp_path / 'l.db'}", "--port", str(free_port())]
    code, _, err = run(capsys, *argv, *[paths.get(a, a) for a in args])
    assert code == 2
    assert err.startswith("loyalty-ledger: ") and said in err and "Traceback" not in err


def test_every_command_s_help_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    """QA: `loyalty-ledger serve --help` (and every other command's) showed its usage and
    options only; what the command does was in the list of `loyalty-ledger --help` alone."""
    assert_each_help_says_what_it_does(_parser(), main, capsys, at_least=8)


def test_a_members_file_as_a_spreadsheet_saves_it_is_read_or_told_how_to_save_it(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: the till's import says what to do with a spreadsheet's file; the ledger's did not. A
    file separated by ';' was told its columns were all missing and one unknown column
    `member_id;card;...`; a header written `member_id, card, name` was refused the same way;
    a file in the machine's code page was "not UTF-8 text", with no word of how to save it."""
    semi = tmp_path / "semi.csv"
    semi.write_text("member_id;card;name;birthday;email\nM1;C1;Ann;;\n")
    code, _, err = run(capsys, "members", "import", str(semi), "--db", db_url)
    assert code == 2
    assert "separated by commas (this file separates them with ';')" in err, err
    assert "unknown" not in err
    cp1252 = tmp_path / "cp1252.csv"
    cp1252.write_bytes("member_id,card,name,birthday,email\nM1,C1,Chloé,,\n".encode("cp1252"))
    code, _, err = run(capsys, "members", "import", str(cp1252), "--db", db_url)
    assert code == 2 and "line 2" in err and "save the file as CSV UTF-8" in err, err
    spaces = tmp_path / "spaces.csv"
    spaces.write_text("member_id, card, name, birthday, email\nM1,C1,Ann,,\n")
    code, out, err = run(capsys, "members", "import", str(spaces), "--db", db_url, "--json")
    assert (code, err) == (0, "") and json.loads(out) == {"imported": 1}
    store = LedgerStore.open(db_url)
    try:
        assert store.card_snapshot("C1")["name"] == "Ann"
        assert store.audit()["events"] == 1  # the refused files recorded nothing
    finally:
        store.close()
