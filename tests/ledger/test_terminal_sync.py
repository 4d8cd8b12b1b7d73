"""A terminal and the real ledger on loopback, on both databases: offline sales reach the ledger
exactly once, balances agree after a pull, two offline terminals are each held to the offline cap
and the overspend is recorded and flagged, a response lost after the commit is resent safely, and
the nightly job runs end to end."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import LedgerServer, subprocess_env

from loyalty_pos import checkout as svc
from loyalty_pos.bootstrap import end_of_day_report, init_terminal, open_terminal
from loyalty_pos.cli import main as till_main
from loyalty_pos.domain.errors import AuthError, RedeemRefused, Refused
from loyalty_pos.imports import import_catalog, import_members
from loyalty_pos.ledger.cli import main as ledger_main
from loyalty_pos.ledger.report import render
from loyalty_pos.nightly import run as nightly_run
from loyalty_pos.reports import day_report, report_text
from loyalty_pos.sync import LedgerClient, SyncError, sync
from tests.support.faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
ANNA = "04A1B2C3D4E500"
BEN = "LC00100037"


def ledger_cli(server: LedgerServer, *args: str) -> None:
    """``loyalty-ledger ARGS --db`` on the server's database, in this process: the command's
    own code, without a second of interpreter start-up for each test's set-up (its command
    line as such is tested in test_ledger_cli.py)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = ledger_main([*args, "--db", server.db_url])
    assert code == 0, out.getvalue()


@pytest.fixture
def store(fresh_ledger: LedgerServer) -> LedgerServer:
    """A ledger holding the demo store's members and the example program."""
    ledger_cli(fresh_ledger, "members", "import", str(ROOT / "config/demo/members.csv"))
    ledger_cli(fresh_ledger, "program", "set", str(ROOT / "config/program.example.toml"))
    return fresh_ledger


def till(
    server: LedgerServer,
    home: Path,
    terminal_id: str,
    url: str | None = None,
    program: Path = ROOT / "config/program.example.toml",
) -> svc.Terminal:
    answer = server.admin.post("/v1/terminals", json={"terminal_id": terminal_id})
    assert answer.status_code == 201, answer.text
    t = init_terminal(
        home,
        terminal_id,
        program,
        "1234",
        ledger_url=url or server.base_url,
        token=answer.json()["token"],
    )
    import_catalog(t, ROOT / "config/demo/catalog.csv")
    return t


def in_utc(t: svc.Terminal) -> svc.Terminal:
    """The till reopened with its store day in UTC, the ledger's days."""
    config = t.home / "terminal.toml"
    config.write_text(config.read_text().replace("[terminal]\n", '[terminal]\ntimezone = "UTC"\n'))
    t.store.close()
    return open_terminal(t.home)


def utc(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def ledger_member(server: LedgerServer, member_id: str) -> dict:
    return server.admin.get(f"/v1/members/{member_id}").json()


def test_a_last_sync_stamped_ahead_of_the_clock_does_not_keep_a_till_online(
    store, tmp_path
) -> None:
    """QA: a till whose clock ran 72 hours ahead synced, then its clock was set right: the sync
    "in the future" kept it online (no offline cap) for three days with the ledger down."""
    t = till(store, tmp_path / "t1", "T1")
    ahead = t.now() + timedelta(hours=72)
    assert sync(t, at=ahead)["online"] is True
    t.store.set_meta("last_sync_at", ahead.isoformat())  # as that clock stamped it
    assert svc.is_online(t, ahead + timedelta(minutes=59))
    assert not svc.is_online(t, t.now())  # the clock set right: no sync since, as far as we know
    assert svc.is_online(t, ahead - timedelta(seconds=30))  # a small step back of the clock
    sync(t)
    assert svc.is_online(t, t.now())


def test_a_404_at_sync_names_the_whole_address_asked(store, tmp_path) -> None:
    """QA: a ledger.url with a path of its own got 404s named by the API path alone
    (`GET /v1/sync/pull`), which hid the path the till had put in front of it."""
    t = till(store, tmp_path / "t1", "T1", url=store.base_url + "/ledger")
    with pytest.raises(SyncError) as refused:
        sync(t)
    said = str(refused.value)
    assert f"404 to GET {store.base_url}/ledger/v1/sync/pull" in said
    assert "is ledger.url" in said and "without /v1" in said


def test_an_error_page_of_another_web_server_is_said_in_one_line(store, tmp_path) -> None:
    """QA: ledger.url on another web server (python -m http.server, a proxy's default site):
    the sync's sentence held the first 200 characters of its HTML error page, a dozen lines of
    markup on the CLI and in error.log. It is the page's text, one line, without the markup."""
    import http.server
    import threading

    page = (
        '<!DOCTYPE HTML>\n<html lang="en">\n  <head>\n    <title>Error response</title>\n'
        "  </head>\n  <body>\n    <h1>Error response</h1>\n    <p>Error code: 404</p>\n"
        "    <p>Message: File not found.</p>\n" + "    <p>padding</p>\n" * 40 + "</body></html>"
    ).encode()

    class Other(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Type", "text/html;charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = till(store, tmp_path / "t1", "T1", url=f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(SyncError) as refused:
            sync(t)
    finally:
        server.shutdown()
        server.server_close()
    said = str(refused.value)
    assert "\n" not in said and "<" not in said, said
    assert "Error response Error code: 404 Message: File not found." in said
    assert said.endswith(" ...") and len(said) < 400


def test_a_till_whose_clock_is_off_from_the_ledgers_is_told_at_sync_and_by_the_nightly_job(
    store, tmp_path
) -> None:
    """QA: a till 72 hours ahead (or 50 behind) synced with nothing said; only the ledger's
    report flagged it. The ledger's Date header is the reference."""
    t = till(store, tmp_path / "t1", "T1")
    assert "clock" not in sync(t)  # the same machine's clock: within the tolerance
    real = t.clock
    for hours, word in ((72, "72.0 hours ahead of"), (-50, "50.0 hours behind")):
        t.clock = lambda hours=hours: real() + timedelta(hours=hours)  # type: ignore[misc]
        result = sync(t)
        assert result["clock"].startswith(f"This till's clock is {word} the ledger's")
        assert abs(result["clock_off_s"] - hours * 3600) < 120
        night = nightly_run(t, t.now().date(), keep=2, progress=lambda _: None)
        assert night["ok"] is False and word in night["failures"][0]
    t.clock = lambda: real() + timedelta(minutes=3)  # type: ignore[misc]
    assert "clock" not in sync(t)  # a few minutes are not worth a word


def test_a_till_whose_clock_reset_to_years_ago_is_told_in_days_not_hundreds_of_thousands_of_hours(
    store, tmp_path
) -> None:
    """QA: a till whose clock battery died came up 20 years behind: the sync said "175200.0
    hours behind" and the cashier's toast "175200.0 hours slow", a number to count the
    digits of before anyone saw that the date itself was wrong."""
    from loyalty_pos.tui.words import sync_problems

    t = till(store, tmp_path / "t1", "T1")
    real = t.clock
    t.clock = lambda: real() - timedelta(days=7300)  # type: ignore[misc]
    result = sync(t)
    assert result["clock"].startswith("This till's clock is 7,300 days behind the ledger's"), (
        result["clock"]
    )
    [said] = sync_problems(result)
    assert said.startswith("This till's clock is 7,300 days slow: sales are dated by it."), said
    t.clock = lambda: real() + timedelta(days=9)  # type: ignore[misc]
    assert sync(t)["clock"].startswith("This till's clock is 9 days ahead of the ledger's")


def test_an_offline_sale_reaches_the_ledger_once_and_balances_agree(store, tmp_path) -> None:
    with FaultProxy(store.port, seed=1) as proxy:
        proxy.faults = False
        t = till(store, tmp_path / "t1", "T1", proxy.url)
        assert sync(t)["pulled"] == 20
        assert svc.is_online(t, t.now())
        proxy.offline = True
        with pytest.raises(SyncError, match="cannot be reached|No answer came from the ledger"):
            sync(t)
        t.store.set_meta("last_sync_at", (t.now() - timedelta(hours=2)).isoformat())
        sale = svc.checkout(t, ANNA, svc.resolve_items(t, [("MASCARA", 1), ("BOOK-COOK", 2)]))
        assert sale["offline"] is True
        assert svc.balance(t, ANNA)["pending_sync"] == 1
        proxy.offline = False
        first = sync(t)
        assert (first["pushed"], first["rejected"], first["waiting"]) == (1, 0, 0)
        assert svc.balance(t, ANNA)["pending_sync"] == 0
        assert sync(t)["pushed"] == 0
    audit = store.admin.get("/v1/audit").json()
    assert (audit["sum_of_balances"], audit["unbalanced_transfers"]) == (0, 0)
    assert audit["members_mismatched"] == []
    at_ledger = ledger_member(store, "M0001")
    assert at_ledger["balance"] == sale["balance"] == svc.balance(t, ANNA)["balance"]
    assert svc.verify(t)["ok"]


def test_two_offline_terminals_are_each_capped_and_the_overspend_is_flagged(
    store, tmp_path
) -> None:
    store.admin.post("/v1/members/M0001/adjust", json={"points": 6000, "reason": "welcome gift"})
    tills = [till(store, tmp_path / name, name) for name in ("T1", "T2")]
    for t in tills:
        sync(t)
        assert svc.balance(t, ANNA)["balance"] == 6000
        t.store.set_meta("last_sync_at", (t.now() - timedelta(hours=2)).isoformat())  # offline
    basket = [("OLIVEOIL", 10)]  # 89.90: enough to pay 5000 points
    with pytest.raises(RedeemRefused) as e:
        svc.checkout(tills[0], ANNA, svc.resolve_items(tills[0], basket), 5100)
    assert e.value.limit == "offline_cap"
    for t in tills:
        sale = svc.checkout(t, ANNA, svc.resolve_items(t, basket), "max")
        assert sale["points_redeemed"] == 5000
        assert sale["points_limit"].startswith("the terminal is offline: a member may pay at most")
    capped = svc.checkout(tills[0], ANNA, svc.resolve_items(tills[0], [("MILK", 1)]), "max")
    assert capped["points_redeemed"] == 0  # the sale goes through, and says why no points
    assert "at most 5000 points a day here" in capped["points_limit"]
    for t in tills:
        assert sync(t)["rejected"] == 0
    assert ledger_member(store, "M0001")["balance"] < 0
    today = tills[0].now().date().isoformat()
    report = store.admin.get("/v1/reports/summary", params={"from": today, "to": today}).json()
    flagged = [n if isinstance(n, str) else n.get("member_id") for n in report["negative_balances"]]
    assert "M0001" in flagged
    sync(tills[0])
    assert svc.balance(tills[0], ANNA)["balance"] == ledger_member(store, "M0001")["balance"]


def test_a_response_lost_after_the_commit_is_resent_and_applied_once(store, tmp_path) -> None:
    with FaultProxy(store.port, seed=2, script=["pass", "pass"]) as proxy:
        proxy.faults = False
        t = till(store, tmp_path / "t1", "T1", proxy.url)
        sync(t)
        for _ in range(3):
            svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
        proxy.script = ["lose_response", "502", "cut_response"]
        result = sync(t)
    assert result["pushed"] + result["duplicates"] == 3 and result["duplicates"] == 3
    seqs = store.admin.get("/v1/members/M0001").json()["counted_through"]["T1"]
    assert seqs == 3
    assert ledger_member(store, "M0001")["balance"] == svc.balance(t, ANNA)["balance"]


def test_the_nightly_job_runs_end_to_end_against_the_ledger(store, tmp_path) -> None:
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MASCARA", 1)]))
    svc.checkout(t, None, svc.resolve_items(t, [("MILK", 2)]))
    result = nightly_run(t, t.now().date(), keep=2, progress=lambda _: None)
    assert result["ok"], result["failures"]
    assert result["sync"]["pushed"] == 2
    report = (t.home / "reports" / f"{t.now().date()}.json").read_text()
    assert '"checkouts": 2' in report and '"engagement_pct": "50.00"' in report
    assert len(list((t.home / "backups").glob("terminal-*.db"))) == 1


def _nightly_through_a_terminal(home: Path) -> str:
    """``scripts/nightly-sync`` run at a terminal (a pseudo-terminal as its stdout and stderr),
    as an IT person runs it by hand: what the screen got."""
    import os
    import pty

    main_fd, screen = pty.openpty()
    env = {**subprocess_env(), "COLUMNS": "120", "TERM": "xterm"}
    job = subprocess.Popen(
        [sys.executable, "-m", "loyalty_pos.nightly", "--home", str(home)],
        stdin=subprocess.DEVNULL,
        stdout=screen,
        stderr=screen,
        env=env,
    )
    os.close(screen)
    seen = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # the job ended and closed its side
            break
        if not chunk:
            break
        seen += chunk
    job.wait(timeout=60)
    os.close(main_fd)
    return seen.decode("utf-8", "replace")


def test_the_nightly_jobs_log_says_each_step_once_without_a_line_per_request(
    store, tmp_path
) -> None:
    """QA: run by hand at a terminal, the job's log lines were written into its progress bar's
    line (``INFO:loyalty_pos.nightly:sync: ok``), and in cron's mail every HTTP request of the
    sync was a line of its own (``HTTP Request: POST ...``)."""
    t = till(store, tmp_path / "t1", "T1")
    svc.checkout(t, None, svc.resolve_items(t, [("MASCARA", 1)]))
    mailed = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.nightly", "--home", str(t.home)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert mailed.returncode == 0, mailed.stderr
    lines = mailed.stderr.splitlines()
    assert [line.split(" ", 3)[-1] for line in lines if line.endswith(": ok")] == [
        f"{step}: ok" for step in ("sync", "verify", "backup", "optimize", "report")
    ]
    assert "HTTP Request" not in mailed.stderr and "End of day" in mailed.stdout
    screen = _nightly_through_a_terminal(t.home)
    assert "End of day" in screen and "HTTP Request" not in screen
    assert "INFO:" not in screen and "\x1b" in screen  # the bar's console, not a plain handler
    for step in ("sync", "verify", "backup", "optimize", "report"):
        assert screen.count(f"{step}: ok") == 1, screen


def test_a_pull_in_small_pages_with_the_next_page_fetched_ahead_gets_every_member(
    store, tmp_path
) -> None:
    from loyalty_pos.sync.client import client_for
    from loyalty_pos.sync.client import pull as pull_pages

    t = till(store, tmp_path / "t1", "T1")
    client = client_for(t)
    asked: list[str] = []
    plain_pull = client.pull

    def three_at_a_time(since: str, limit: int = 500) -> dict:
        asked.append(since)
        return plain_pull(since, 3)

    client.pull = three_at_a_time  # type: ignore[method-assign]
    try:
        pulled, cursor, _lost = pull_pages(t, client)
    finally:
        client.close()
    assert pulled == 20 and len(asked) == 7  # 20 members, 3 a page
    assert asked == sorted(asked, key=int) and len(set(asked)) == 7
    assert t.store.meta("pull_cursor") == cursor
    assert t.store.one("SELECT COUNT(*) AS n FROM members")["n"] == 20
    assert svc.balance(t, ANNA)["balance"] == ledger_member(store, "M0001")["balance"]


def test_a_till_restored_from_an_old_backup_is_told_the_ledger_holds_back_its_sales(
    store, tmp_path, caplog
) -> None:
    """The ledger already holds the lost till's later sales: the restored copy's next sale takes
    a seq the ledger has, and everything after it waits behind it. The till must say so, stop
    counting as online, and the nightly job must fail, not report a clean sync."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    sync(t)
    copy, idle = tmp_path / "restored", tmp_path / "restored-idle"
    for folder in (copy, idle):
        shutil.copytree(t.home, folder, ignore=shutil.ignore_patterns("terminal.db*"))
        with sqlite3.connect(folder / "terminal.db") as backup:
            t.store.conn.backup(backup)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("COFFEE", 1)]))  # the lost till's last sale
    assert sync(t)["pushed"] == 1

    # A copy synced before it sells: the ledger's head is past its journal's. No sync is good,
    # but the till stays online within the grace of its last good one, and says so (it said
    # it "counts as offline" while its sync answered online).
    early = sync(open_terminal(idle))
    grace = t.program.offline.grace_minutes
    assert "events up to seq 2, but this terminal's journal ends at seq 1" in early["problem"]
    assert f"counts as offline (the offline cap) once {grace} minutes" in early["problem"]
    assert early["online"] is True and early["blocked"] is True

    restored = open_terminal(copy)
    svc.checkout(restored, ANNA, svc.resolve_items(restored, [("MASCARA", 1)]))
    first = sync(restored)
    assert (first["pushed"], first["held"]) == (0, 1)
    assert "The ledger holds back 1 of this terminal's events" in first["problem"]
    assert "seq 2 (checkout T1-000002): chain: seq 2 was already" in first["problem"]

    restored.store.set_meta(
        "last_sync_at", (restored.now() - timedelta(minutes=grace + 1)).isoformat()
    )
    for basket in ([("MILK", 2)], [("MILK", 3)]):  # seq 3 is the ledger's too; seq 4 is new
        svc.checkout(restored, ANNA, svc.resolve_items(restored, basket))
    second = sync(restored)
    assert second["held"] == 3 and "every later one waits behind them" in second["problem"]
    assert second["online"] is False and not svc.is_online(restored, restored.now())

    out = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(copy), "journal", "--held"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    held = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(h["event"]["seq"], h["held"].split(":")[0]) for h in held] == [
        (2, "chain"),
        (3, "chain"),
        (4, "gap"),
    ]
    assert held[0]["event"]["lines"][0]["sku"] == "MASCARA"

    with caplog.at_level(logging.INFO, logger="loyalty_pos.nightly"):
        result = nightly_run(restored, restored.now().date(), keep=2, progress=lambda _: None)
    assert result["ok"] is False
    assert any("holds back 3" in failure for failure in result["failures"])
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("sync: ") and "holds back 3" in m for m in said)
    assert "sync: ok" not in said and "verify: ok" in said  # the log says the sync failed


def test_a_restored_till_that_synced_before_it_sold_keeps_the_sale_in_its_members_points(
    store, tmp_path
) -> None:
    """QA: a till restored from an older copy synced (the ledger held its chain further: the
    lost till's later sales), then sold, and `verify` flagged the member: the pull had counted
    the member's events here through the ledger's seq, so the sale recorded under a seq the
    ledger holds for another event was left out of the replay (and out of the member's points
    at the next pull), while the cache had added it."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    sync(t)
    copy = tmp_path / "restored"
    shutil.copytree(t.home, copy, ignore=shutil.ignore_patterns("terminal.db*"))
    with sqlite3.connect(copy / "terminal.db") as backup:
        t.store.conn.backup(backup)
    for _ in range(2):  # the lost till's last sales
        svc.checkout(t, ANNA, svc.resolve_items(t, [("COFFEE", 1)]))
    assert sync(t)["pushed"] == 2

    restored = open_terminal(copy)
    assert sync(restored)["blocked"] is True  # it sat idle: nothing of its own to send
    at_ledger = ledger_member(store, "M0001")["balance"]
    assert svc.balance(restored, ANNA)["balance"] == at_ledger
    sale = svc.checkout(restored, ANNA, svc.resolve_items(restored, [("MASCARA", 1)]))
    assert svc.verify(restored) == {"ok": True, "events": 2, "problems": []}
    assert sync(restored)["held"] == 1  # seq 2 is the ledger's COFFEE: held back there

    store.admin.post("/v1/members/M0001/adjust", json={"points": 5, "reason": "welcome back"})
    sync(restored)  # the member's snapshot again: the held sale is still this till's to count
    assert svc.balance(restored, ANNA)["balance"] == at_ledger + 5 + sale["points_earned"]
    assert svc.verify(restored)["ok"]


def test_a_restored_till_counts_a_sale_it_shares_with_the_ledger_once(store, tmp_path) -> None:
    """The copy was taken before its last sale reached the ledger: the restored till sends it
    again (a duplicate there, the same event) and it is one of the events the two share, so
    the member's points hold it once, not once in the snapshot and once more on top."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))  # not sent when copied
    copy = tmp_path / "restored"
    shutil.copytree(t.home, copy, ignore=shutil.ignore_patterns("terminal.db*"))
    with sqlite3.connect(copy / "terminal.db") as backup:
        t.store.conn.backup(backup)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("COFFEE", 1)]))
    assert sync(t)["pushed"] == 2

    restored = open_terminal(copy)
    first = sync(restored)
    assert (first["duplicates"], first["blocked"]) == (1, True)
    at_ledger = ledger_member(store, "M0001")["balance"]
    assert svc.balance(restored, ANNA)["balance"] == at_ledger
    sale = svc.checkout(restored, ANNA, svc.resolve_items(restored, [("MASCARA", 1)]))
    store.admin.post("/v1/members/M0001/adjust", json={"points": 5, "reason": "welcome back"})
    sync(restored)
    assert svc.balance(restored, ANNA)["balance"] == at_ledger + 5 + sale["points_earned"]
    assert svc.verify(restored)["ok"]


def test_the_nightly_job_fails_for_an_event_held_back_on_its_own_once_not_every_night(
    store, tmp_path, caplog
) -> None:
    """QA: once the ledger refused an enrolment for good (the same new card at two offline
    tills), every later nightly run failed for it, with no way to clear it: the timer stayed
    red and hid real failures. The night it appears fails; later nights warn, until another."""
    one, two = till(store, tmp_path / "t1", "T1"), till(store, tmp_path / "t2", "T2")
    for t in (one, two):
        sync(t)
        svc.enroll(t, "LC00770001", name="Twice")
    sync(one)
    assert sync(two)["blocked"] is False

    def night() -> dict:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="loyalty_pos.nightly"):
            return nightly_run(two, two.now().date(), keep=2, progress=lambda _: None)

    first = night()
    assert first["ok"] is False and "already belongs to member" in first["failures"][0]
    second = night()
    assert second["ok"] is True, second["failures"]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "reported on an earlier night" in warned[0].getMessage()
    assert second["sync"]["held"] == 1  # still listed: nothing is dropped
    svc.enroll(one, "LC00770002", name="Again")
    svc.enroll(two, "LC00770002", name="Again")
    sync(one)
    third = night()  # a new one: the night fails again
    assert third["ok"] is False and third["sync"]["held"] == 2


def test_a_till_with_another_tills_token_is_told_whose_token_it_is(store, tmp_path) -> None:
    first = till(store, tmp_path / "t1", "T1")
    second = till(store, tmp_path / "t2", "T2")
    (second.home / "ledger.token").write_text(first.config.ledger.token + "\n")
    second = open_terminal(second.home)
    svc.checkout(second, None, svc.resolve_items(second, [("MILK", 1)]))
    with pytest.raises(AuthError, match="this token belongs to terminal T1, not T2"):
        sync(second)
    assert second.store.outbox_count() == 1


def test_a_second_till_running_under_a_terminal_id_in_use_stays_offline_and_is_told_why(
    store, tmp_path
) -> None:
    """QA (high): a second machine set up as T2 with T2's token had every event refused as
    `chain`, yet each sync counted as a success: it stayed online for good, spent 20,025 points
    with no offline cap that the ledger never took off, and said nothing of the shared id."""
    t2 = till(store, tmp_path / "t2", "T2")
    sync(t2)
    for _ in range(3):
        svc.checkout(t2, None, svc.resolve_items(t2, [("MILK", 1)]))
    sync(t2)
    store.admin.post("/v1/members/M0001/adjust", json={"points": 20000, "reason": "gift"})
    copy = init_terminal(
        tmp_path / "t2b",
        "T2",
        ROOT / "config/program.example.toml",
        "1234",
        ledger_url=store.base_url,
        token=t2.config.ledger.token,
    )
    import_catalog(copy, ROOT / "config/demo/catalog.csv")
    first = sync(copy)  # nothing to send yet: the pull's head already shows it
    assert first["online"] is False and first["held"] == 0
    assert "another till runs as T2" in first["problem"]
    assert "seq 3" in first["problem"] and "ends at seq 0" in first["problem"]
    later = copy.now() + timedelta(hours=2)
    with pytest.raises(RedeemRefused, match="Offline, this member can pay at most 5000"):
        svc.checkout(copy, ANNA, svc.resolve_items(copy, [("OLIVEOIL", 20)]), 6000, at=later)
    svc.checkout(copy, ANNA, svc.resolve_items(copy, [("OLIVEOIL", 20)]), 5000, at=later)
    second = sync(copy, at=later)
    assert second["rejected"] == 1 and second["online"] is False
    assert not svc.is_online(copy, later + timedelta(minutes=1))
    # `loyalty-pos sync` says so in its exit code too: a script sees the sync did not succeed
    said = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(copy.home), "--json", "sync"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert said.returncode == 1, said.stderr
    answer = json.loads(said.stdout)
    assert answer["blocked"] is True and "another till runs as T2" in answer["problem"]
    assert sync(t2)["online"] is True  # the till that owns the id is not touched


def test_an_idle_till_with_another_tills_token_is_told_so_and_takes_nothing_of_its_chain(
    store, tmp_path
) -> None:
    """QA: with nothing to push, a till given T1's token synced "online" on T1's word, took
    T1's chain head for its own, forgot its acknowledgements and sent its journal again."""
    first = till(store, tmp_path / "t1", "T1")
    for _ in range(3):
        svc.checkout(first, None, svc.resolve_items(first, [("MILK", 1)]))
    sync(first)
    second = till(store, tmp_path / "t2", "T2")
    svc.checkout(second, None, svc.resolve_items(second, [("MILK", 1)]))
    assert sync(second)["pushed"] == 1
    before = {k: second.store.meta(k) for k in ("pull_cursor", "ledger_head_seq", "last_sync_at")}
    (second.home / "ledger.token").write_text(first.config.ledger.token + "\n")
    second = open_terminal(second.home)
    with pytest.raises(AuthError, match="this token belongs to terminal T1, not T2"):
        sync(second)
    assert {k: second.store.meta(k) for k in before} == before
    assert second.store.outbox_count() == 0  # nothing to send again
    assert not svc.is_online(second, second.now() + timedelta(hours=2))


def test_a_birthday_sale_returned_in_full_frees_the_bonus_at_the_ledger_too(
    store, tmp_path
) -> None:
    t = till(store, tmp_path / "t1", "T1")
    other = till(store, tmp_path / "t2", "T2")
    today = t.now().date()
    born = (
        today.replace(year=1990)
        if (today.month, today.day) != (2, 29)
        else today.replace(year=1992)
    )
    member = svc.enroll(t, "LC00990001", name="Birthday", birthday=born.isoformat())["member_id"]
    sale = svc.checkout(t, "LC00990001", svc.resolve_items(t, [("MILK", 1)]))
    assert any(b["rule"] == "promo:birthday" for b in sale["breakdown"])
    svc.refund(t, sale["receipt_id"], None, "1234")
    sync(t)
    assert ledger_member(store, member)["last_birthday_bonus"] is None

    sync(other)  # the member as the ledger has them: the bonus may be earned again, once
    again = svc.checkout(other, "LC00990001", svc.resolve_items(other, [("MILK", 1)]))
    assert any(b["rule"] == "promo:birthday" for b in again["breakdown"])
    sync(other)
    assert ledger_member(store, member)["last_birthday_bonus"] == today.isoformat()
    assert ledger_member(store, member)["balance"] == again["balance"]
    sync(t)
    assert svc.balance(t, "LC00990001")["balance"] == again["balance"]
    later = svc.checkout(t, "LC00990001", svc.resolve_items(t, [("MILK", 1)]))
    assert all(b["rule"] != "promo:birthday" for b in later["breakdown"])


def test_two_offline_tills_each_giving_the_birthday_bonus_are_flagged_in_the_ledgers_report(
    store, tmp_path
) -> None:
    """Offline, neither till knows the other gave the bonus: both sales stand (the customer was
    told), and the ledger's report names the member and the second sale, once; a bonus handed
    back by a refund before the next is no repeat."""
    tills = [till(store, tmp_path / name, name) for name in ("T1", "T2")]
    today = tills[0].now().date()
    born = today.replace(year=1990) if (today.month, today.day) != (2, 29) else date(1992, 2, 29)
    card = "LC00990002"
    member = svc.enroll(tills[0], card, name="Twice", birthday=born.isoformat())["member_id"]
    for t in tills:
        sync(t)
        t.store.set_meta("last_sync_at", (t.now() - timedelta(hours=2)).isoformat())  # offline
    sales = [svc.checkout(t, card, svc.resolve_items(t, [("MILK", 1)])) for t in tills]
    for sale in sales:
        assert sale["offline"] and any(b["rule"] == "promo:birthday" for b in sale["breakdown"])
    for t in tills:
        assert sync(t)["rejected"] == 0
    day = {"from": today.isoformat(), "to": today.isoformat()}
    report = store.admin.get("/v1/reports/summary", params=day).json()
    assert [(r["member_id"], r["previous_on"], r["on"]) for r in report["birthday_repeats"]] == [
        (member, today.isoformat(), today.isoformat())
    ]
    assert report["birthday_repeats"][0]["receipt_id"] in {s["receipt_id"] for s in sales}
    text = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.ledger", "report", "--db", store.db_url]
        + ["--from", day["from"], "--to", day["to"]],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "birthday bonus given again within 365 days: 1" in text
    assert member in text

    # The first sale returned in full hands its bonus back: the other one is then the only one,
    # and it still stands: neither till gives the bonus again, online.
    svc.refund(tills[0], sales[0]["receipt_id"], None, "1234")
    sync(tills[0])
    report = store.admin.get("/v1/reports/summary", params=day).json()
    assert report["birthday_repeats"] == []
    assert ledger_member(store, member)["last_birthday_bonus"] == today.isoformat()
    for t in tills:
        sync(t)
        again = svc.checkout(t, card, svc.resolve_items(t, [("MILK", 1)]))
        assert not again["offline"]
        assert all(b["rule"] != "promo:birthday" for b in again["breakdown"])


def test_the_punches_a_refund_takes_below_zero_reach_the_other_tills_through_the_ledger(
    store, tmp_path
) -> None:
    """Five coffees, the sixth free, the five returned: the ledger keeps the card at -5, and
    another till sells the next five at full price."""
    t, other = till(store, tmp_path / "t1", "T1"), till(store, tmp_path / "t2", "T2")
    sync(t)
    five = svc.checkout(t, BEN, svc.resolve_items(t, [("COFFEE", 5)]))
    assert svc.checkout(t, BEN, svc.resolve_items(t, [("COFFEE", 1)]))["due"] == "0.00"
    svc.refund(t, five["receipt_id"], None, "1234")
    assert sync(t)["rejected"] == 0
    assert ledger_member(store, "M0002")["punch"] == {"COFFEE": -5}
    sync(other)
    assert svc.checkout(other, BEN, svc.resolve_items(other, [("COFFEE", 5)]))["discount"] == "0.00"
    assert svc.checkout(other, BEN, svc.resolve_items(other, [("COFFEE", 6)]))["discount"] == "2.40"
    sync(other)
    sync(t)
    assert ledger_member(store, "M0002")["punch"] == {}
    assert svc.verify(t)["ok"] and svc.verify(other)["ok"]


def test_a_new_token_installed_with_token_set_lets_a_revoked_till_sync_again(
    store, tmp_path
) -> None:
    t = till(store, tmp_path / "t1", "T1")
    svc.checkout(t, None, svc.resolve_items(t, [("MILK", 1)]))
    assert store.admin.delete("/v1/terminals/T1").status_code == 200  # the old token leaked
    with pytest.raises(AuthError):
        sync(t)
    new_token = store.admin.post("/v1/terminals", json={"terminal_id": "T1"}).json()["token"]

    def token_set(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", "--home", str(t.home), "token", "set", *args],
            env=subprocess_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    wrong = token_set("--token", new_token, "--manager-pin", "9999")
    assert wrong.returncode == 2 and "PIN" in wrong.stderr
    assert token_set("--token", "two words", "--manager-pin", "1234").returncode == 2
    assert (t.home / "ledger.token").read_text().strip() == t.config.ledger.token  # unchanged
    # piped from a file Notepad saved as "UTF-8 with BOM": the mark is not part of the token
    done = token_set("--token", "-", "--manager-pin", "1234", stdin="\ufeff" + new_token + "\n")
    assert done.returncode == 0, done.stderr
    assert (t.home / "ledger.token").stat().st_mode & 0o777 == 0o600
    t = open_terminal(t.home)
    assert t.config.ledger.token == new_token
    assert sync(t)["pushed"] == 1
    assert t.store.outbox_count() == 0


def test_init_reads_the_token_from_stdin_and_the_till_syncs_with_it(store, tmp_path) -> None:
    """QA: `init --token -`, as `token set` takes it, stored "-" as the token; the till's first
    sync was then refused (401) and nothing said why."""
    token = store.admin.post("/v1/terminals", json={"terminal_id": "T1"}).json()["token"]
    home = tmp_path / "t1"

    def init(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "init"]
            + ["--terminal-id", "T1", "--program", str(ROOT / "config/program.example.toml")]
            + ["--ledger-url", store.base_url, "--manager-pin", "1234", *args],
            env=subprocess_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    blank = init("--token", "-", stdin="\n")
    assert blank.returncode == 2 and "needs its token, and none came" in blank.stderr
    assert "--token - with the token on stdin" in blank.stderr
    assert not (home / "terminal.toml").exists()
    two_words = init("--token", "two words", stdin="")
    assert two_words.returncode == 2 and "one word" in two_words.stderr
    assert not (home / "terminal.toml").exists()
    done = init("--token", "-", stdin="\ufeff" + token + "\n")  # piped from a file with a BOM
    assert done.returncode == 0, done.stderr
    assert (home / "ledger.token").read_text() == token + "\n"
    assert (home / "ledger.token").stat().st_mode & 0o777 == 0o600
    t = open_terminal(home)
    assert sync(t)["pulled"] == 20


def test_the_till_and_the_ledger_report_a_period_with_the_same_figures(store, tmp_path) -> None:
    """One definition of every figure: the till's report of March, from its journal, and the
    ledger's, from the events the till pushed, say the same."""
    t = in_utc(till(store, tmp_path / "t1", "T1"))
    old, gone, new = "LC90000001", "LC90000002", "LC90000003"
    svc.enroll(t, gone, name="Gone", at=utc("2025-12-10"))  # active at the start, not the end
    svc.enroll(t, old, name="Old", at=utc("2026-01-05"))
    svc.checkout(t, old, svc.resolve_items(t, [("MILK", 1)]), at=utc("2026-01-20"))
    # March: two members buy, one of them new; a sale without a card; managers adjust both ways.
    svc.checkout(t, old, svc.resolve_items(t, [("BOOK-COOK", 2)]), at=utc("2026-03-05"))
    svc.enroll(t, new, name="New", at=utc("2026-03-10", 9))
    sale = svc.checkout(t, new, svc.resolve_items(t, [("MASCARA", 2)]), at=utc("2026-03-10", 9))
    svc.checkout(t, None, svc.resolve_items(t, [("MILK", 3)]), at=utc("2026-03-15"))
    svc.checkout(t, old, svc.resolve_items(t, [("OLIVEOIL", 1)]), at=utc("2026-03-20"))
    svc.adjust(t, old, 50, "goodwill", "1234", at=utc("2026-03-21"))
    svc.adjust(t, new, -5, "bonus given twice", "1234", at=utc("2026-03-22"))
    svc.refund(t, sale["receipt_id"], {"MASCARA": 1}, "1234", at=utc("2026-03-25"))
    pushed = sync(t)
    assert (pushed["pushed"], pushed["held"]) == (11, 0)

    here = day_report(t, date(2026, 3, 1), date(2026, 3, 31))
    there = store.admin.get(
        "/v1/reports/summary", params={"from": "2026-03-01", "to": "2026-03-31"}
    ).json()

    assert here["issued"] == there["points"]["issued"] > 0  # adjustments are not issued points
    assert here["redeemed"] == there["points"]["redeemed"]
    assert here["adjusted"] == there["points"]["adjusted"] == 45
    assert here["checkouts"] == there["checkouts"]["all"] == 4
    assert here["checkouts_with_card"] == there["checkouts"]["with_card"] == 3
    assert here["engagement_pct"] == there["checkouts"]["engagement_pct"] == "75.00"
    assert Decimal(here["average_check"]) * 100 == there["average_check_minor"]
    assert here["repeat_purchases"] == there["repeat_purchases"] == "1.50"
    # Old: 5 Jan to 20 Mar, both days counted = 75 days; New: enrolled and bought on 10 Mar = 1.
    assert here["average_lifetime_days"] == there["average_lifetime_days"] == "38.00"
    assert here["average_lifetime_periods"] == there["average_lifetime_periods"] == "1.23"  # 38/31
    assert Decimal(here["ltv"]) * 100 == there["ltv_minor"]
    members = there["members"]
    assert (here["members_active_start"], here["members_active_end"]) == (2, 2)
    assert (members["active_at_start"], members["active_at_end"]) == (2, 2)
    assert here["retention_pct"] == members["retention_pct"] == "50.00"
    # the ledger's line for this till says what the till's report says
    (line,) = [row for row in there["terminals"] if row["terminal_id"] == "T1"]
    assert (line["checkouts"], line["with_card"]) == (here["checkouts"], 3)
    assert (
        (line["refunds"], Decimal(line["refunded_minor"]) / 100)
        == (
            here["refunds"],
            Decimal(here["refunded"]),
        )
        == (1, Decimal(sale["due"]) / 2)
    )
    for figure in ("issued", "redeemed", "adjusted"):
        assert line[figure] == here[figure]


def test_a_member_enrolled_elsewhere_has_the_same_lifetime_in_the_tills_report_as_the_ledgers(
    store, tmp_path
) -> None:
    """QA: t differed between the till's report and the ledger's for members the till had
    from the ledger: the till counted their lifetime from their first purchase there, the
    ledger from their enrolment. The snapshot now carries the enrolment, and the till counts
    from it too; a member the till enrolled itself counts from that, as before."""
    one = in_utc(till(store, tmp_path / "t1", "T1"))
    two = in_utc(till(store, tmp_path / "t2", "T2"))
    elsewhere, here = "LC90000011", "LC90000012"
    svc.enroll(two, elsewhere, name="Elsewhere", at=utc("2026-01-05"))
    assert sync(two)["pushed"] == 1
    sync(one)  # the member, with their enrolment at T2, comes with the pull
    svc.enroll(one, here, name="Here", at=utc("2026-03-02"))
    for card, day in ((elsewhere, "2026-03-05"), (here, "2026-03-10"), (elsewhere, "2026-03-20")):
        svc.checkout(one, card, svc.resolve_items(one, [("MILK", 1)]), at=utc(day))
    assert sync(one)["pushed"] == 4

    mine = day_report(one, date(2026, 3, 1), date(2026, 3, 31))
    there = store.admin.get(
        "/v1/reports/summary", params={"from": "2026-03-01", "to": "2026-03-31"}
    ).json()
    # Elsewhere: 5 Jan to 20 Mar, both counted, 75 days (not 16, from 5 Mar); Here: 2-10 Mar, 9.
    assert mine["average_lifetime_days"] == there["average_lifetime_days"] == "42.00"
    assert mine["average_lifetime_periods"] == there["average_lifetime_periods"] == "1.35"
    assert Decimal(mine["ltv"]) * 100 == there["ltv_minor"]


def test_a_day_without_sales_has_no_average_check_or_ltv_at_the_till_as_at_the_ledger(
    store, tmp_path
) -> None:
    """QA: `loyalty-pos report --date 2001-01-01` read 0.00 for m, a, t and the LTV where
    `loyalty-ledger report` read n/a: no sales is not sales of 0.00."""
    t = in_utc(till(store, tmp_path / "t1", "T1"))
    here = end_of_day_report(t, date(2001, 1, 1))
    there = store.admin.get(
        "/v1/reports/summary", params={"from": "2001-01-01", "to": "2001-01-01"}
    )
    there = there.json()
    for figure in ("average_check", "ltv"):
        assert here[figure] is None and there[f"{figure}_minor"] is None
    for figure in ("repeat_purchases", "average_lifetime_days", "average_lifetime_periods"):
        assert here[figure] is None and there[figure] is None
    assert here["engagement_pct"] is None and there["checkouts"]["engagement_pct"] is None
    text = report_text(here)
    for label in ("Average check with a card (m)", "LTV = m x a x t", "in periods (t)"):
        (line,) = [line for line in text.splitlines() if line.strip().startswith(label)]
        assert line.endswith(" n/a"), line
    assert "LTV = m x a x t n/a" in render(there)


def _cli(main: Any, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


def test_on_the_day_of_the_ledgers_members_import_each_report_says_why_its_new_members_differ(
    store, tmp_path
) -> None:
    """QA: on the day the ledger imported the store's 20 members, `loyalty-ledger report` said
    new 20, active at the end 20, while the till's report said 0 new members and 1 active (the
    member who bought there), side by side in the owner's mail, with nothing to say which was
    wrong. Neither is: the till counts its own enrolments and its own buyers, the ledger every
    enrolment, its import's included. Each report now says so beside the figures."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    assert sync(t)["pushed"] == 1
    day = date.today().isoformat()  # the till's store day and the ledger's: the machine's
    home = ["--home", str(t.home)]

    here = json.loads(_cli(till_main, *home, "--json", "report", "--date", day))
    assert (here["members_new"], here["members_active_end"]) == (0, 1)
    assert here["members_note"] == (
        "New members (N) are those enrolled at this till, and a member is active here once "
        "enrolled or buying here: 20 members enrolled in the period elsewhere (by the ledger's "
        "members import, or at another till) are not in N, and are in E only once they buy "
        "here. The ledger's report (loyalty-ledger report) counts them as new and active from "
        "their enrolment."
    )
    text = " ".join(_cli(till_main, *home, "report", "--date", day).split())
    assert "20 members enrolled in the period elsewhere" in text

    there = json.loads(
        _cli(ledger_main, "report", "--from", day, "--to", day, "--json", "--db", store.db_url)
    )
    members = there["members"]
    assert (members["new"], members["new_imported"], members["active_at_end"]) == (20, 20, 20)
    shown = _cli(ledger_main, "report", "--from", day, "--to", day, "--db", store.db_url)
    assert (
        "  new members: 20 imported by members import; a till's end-of-day report counts as "
        "new only the members it enrolled, and as active only those who enrolled or bought "
        "there\n"
    ) in shown


def test_a_till_with_a_ledger_does_not_pass_todays_balances_off_as_a_past_days(
    store, tmp_path
) -> None:
    """Members' accounts pulled from the ledger hold what every till did since: for a day that
    ended before the pull the till says the ledger's report has the balances, and shows none."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    yesterday = t.now() - timedelta(days=1)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MASCARA", 1)]), at=yesterday)
    assert sync(t)["pushed"] == 1

    past = day_report(t, yesterday.date())
    assert past["outstanding_points"] is None and past["negative_balances"] is None
    assert past["checkouts"] == 1  # what the journal says of the day still stands
    assert past["expired"] is None  # lapsed lots are the balances' part
    assert "the ledger's to tell (loyalty-ledger report)" in past["balances_unknown"]
    assert "the ledger's to tell" in " ".join(report_text(past).split())
    today = day_report(t, t.now().date())
    assert today["outstanding_points"] == sum(
        ledger_member(store, m["member_id"])["balance"]
        for m in t.store.query("SELECT member_id FROM members")
    )


def test_todays_report_at_a_till_says_whose_figures_it_has_and_takes_the_ledgers_balances(
    store, tmp_path
) -> None:
    """QA: today's report at a till with a ledger left out another till's sale made after this
    till's last pull, and said nothing of it. Its balances are now the ledger's as it holds them
    now, when the ledger has every sale of this till; else (a sale not sent yet, the app's
    summary, which asks no ledger) the till's own view, which says up to when it holds whose
    sales. The sales figures say they are this till's, up to when."""
    one, two = till(store, tmp_path / "t1", "T1"), till(store, tmp_path / "t2", "T2")
    sync(one)
    sync(two)
    later = svc.checkout(two, BEN, svc.resolve_items(two, [("OLIVEOIL", 1)]))  # after T1's pull
    assert sync(two)["pushed"] == 1
    members = [m["member_id"] for m in one.store.query("SELECT member_id FROM members")]
    owed = sum(ledger_member(store, m)["balance"] for m in members)
    today = one.now().date()

    asked = end_of_day_report(one, today)
    assert asked["balances_from"] == "ledger"
    assert asked["outstanding_points"] == owed  # T2's sale after T1's pull is in
    assert "so far are the ledger's, as it held them at" in asked["balances_note"]
    assert "the period not over: every till's sales it had by then" in asked["balances_note"]
    assert asked["checkouts"] == 0  # T1 sold nothing: the sales figures are its own
    assert "are this till's (T1) own, from its journal, up to " in asked["figures_note"]
    assert "(the period is not over)" in asked["figures_note"]
    text = " ".join(report_text(asked).split())
    assert "are this till's (T1) own" in text and "so far are the ledger's" in text

    summary = day_report(one, today)  # the app's end-of-day summary asks no ledger
    assert summary["balances_from"] == "till"
    assert summary["outstanding_points"] == owed - later["points_earned"]
    said = summary["balances_note"]
    assert "this till's view at" in said and "at this till's last pull (" in said
    assert "other tills' sales since that pull are not in them" in said
    assert "other tills' sales since that pull" in " ".join(report_text(summary).split())

    svc.checkout(one, ANNA, svc.resolve_items(one, [("MILK", 1)]))  # not sent yet
    waiting = end_of_day_report(one, today)
    assert waiting["balances_from"] == "till" and waiting["checkouts"] == 1
    assert "1 of this till's events is not at the ledger yet" in (waiting["balances_note"])
    sync(one)
    assert end_of_day_report(one, today)["outstanding_points"] == sum(
        ledger_member(store, m)["balance"] for m in members
    )


def test_the_nightly_report_at_a_till_with_a_ledger_has_the_store_wide_balances_at_the_days_end(
    store, tmp_path
) -> None:
    """QA: the 02:30 run syncs, then reports yesterday; any sale since the till's last pull (at
    any till) made the pull count as after the day, so the nightly file never had the
    liability. It now has the ledger's, as they stood at the day's end: every till's sales of
    the day in, a sale at another till this morning out."""
    one, two = till(store, tmp_path / "t1", "T1"), till(store, tmp_path / "t2", "T2")
    sync(one)
    sync(two)
    yesterday = one.now() - timedelta(days=1)
    svc.checkout(one, ANNA, svc.resolve_items(one, [("MASCARA", 1)]), at=yesterday)
    svc.checkout(two, BEN, svc.resolve_items(two, [("OLIVEOIL", 1)]), at=yesterday)
    this_morning = svc.checkout(two, ANNA, svc.resolve_items(two, [("BOOK-COOK", 1)]))
    assert sync(two)["pushed"] == 2

    night = nightly_run(one, yesterday.date(), keep=2, progress=lambda _: None)
    assert night["ok"], night["failures"]
    members = [m["member_id"] for m in one.store.query("SELECT member_id FROM members")]
    now_owed = sum(ledger_member(store, m)["balance"] for m in members)
    report = json.loads(Path(night["report"]["json"]).read_text())
    day_end = datetime.combine(one.now().date(), datetime.min.time(), one.now().tzinfo)
    there = store.admin.get(
        "/v1/reports/summary",
        params={"from": (day_end - timedelta(days=1)).isoformat(), "to": day_end.isoformat()},
    ).json()
    assert report["outstanding_points"] == there["outstanding"]["points"]
    assert report["outstanding_points"] == now_owed - this_morning["points_earned"]
    assert report["outstanding_positive_balances"] == there["outstanding"]["positive_balances"]
    assert report["outstanding_debt"] == 0 and report["negative_balances"] == []
    assert report["expired"] == there["points"]["expired"] == 0
    # As money is written: 20 points are 0.20, not 0.2.
    worth = Decimal(report["outstanding_points"]) / 100
    assert report["outstanding_value"] == str(worth.quantize(Decimal("0.01")))
    assert report["balances_from"] == "ledger" and "balances_unknown" not in report
    assert report["checkouts"] == 1  # this till's own sales, as before
    text = " ".join(Path(night["report"]["text"]).read_text().split())
    assert "are the ledger's, as it held them at" in text


def test_a_till_reports_no_balances_of_a_past_day_the_ledger_cannot_tell_yet(
    store, tmp_path
) -> None:
    """The ledger's balances leave out this till's sales it has not got (offline, held back):
    the report shows none and says why, rather than a liability short of them; and with the
    ledger out of reach, says that."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    yesterday = t.now() - timedelta(days=1)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MASCARA", 1)]), at=yesterday)
    waiting = end_of_day_report(t, yesterday.date())
    assert waiting["outstanding_points"] is None and waiting["expired"] is None
    assert waiting["balances_from"] is None
    said = waiting["balances_unknown"]
    assert "1 of this till's events of before the period's end is not at the ledger yet" in said
    sync(t)
    assert end_of_day_report(t, yesterday.date())["balances_from"] == "ledger"

    def down(start: datetime, end: datetime) -> dict:
        return LedgerClient("http://127.0.0.1:9", "x", timeout=1, attempts=1).balances(start, end)

    unreachable = day_report(t, yesterday.date(), ledger=down)
    assert unreachable["outstanding_points"] is None and unreachable["negative_balances"] is None
    said = unreachable["balances_unknown"]
    assert "it could not be asked (The ledger at http://127.0.0.1:9 cannot be reached" in said
    # today is not over: the ledger's as it holds them now, or with the ledger out of reach,
    # the till's own view, the accounts it pulled and its sales since, saying so
    assert end_of_day_report(t, t.now().date())["balances_from"] == "ledger"
    today = day_report(t, t.now().date(), ledger=down)
    assert today["balances_from"] == "till"
    assert "The ledger's own could not be had: it could not be asked" in today["balances_note"]


def test_a_till_whose_pulled_accounts_hold_a_sale_stamped_after_the_day_leaves_them_to_the_ledger(
    store, tmp_path
) -> None:
    """A sale stamped after the day (the till's clock ran ahead) is in the members' accounts the
    till pulls; the ledger's report of the day leaves it out, so the till cannot tell that day's
    balances from those accounts: it says so, as for a pull after the day, instead of counting
    it."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    today = t.now().date()
    sale = svc.checkout(
        t, ANNA, svc.resolve_items(t, [("MASCARA", 1)]), at=t.now() + timedelta(days=1)
    )
    assert sync(t)["pushed"] == 1
    row = t.store.member(sale["member_id"])
    assert row is not None and row["base_seq"] >= 1  # the base counts the sale

    here = day_report(t, today)
    there = store.admin.get(
        "/v1/reports/summary", params={"from": today.isoformat(), "to": today.isoformat()}
    ).json()
    assert here["checkouts"] == there["checkouts"]["all"] == 0
    assert here["outstanding_points"] is None and here["expired"] is None
    assert "stamped after the period" in here["balances_unknown"]
    assert "the ledger's to tell (loyalty-ledger report)" in here["balances_unknown"]
    # The day the sale is stamped with has its balances as the ledger books them.
    later = day_report(t, today + timedelta(days=1))
    assert later["outstanding_points"] == sum(
        ledger_member(store, m["member_id"])["balance"]
        for m in t.store.query("SELECT member_id FROM members")
    )


def test_a_till_counts_the_pulled_points_that_lapse_in_a_later_day_s_report(
    store, tmp_path
) -> None:
    """Points a member holds at the ledger reach the till with their expiry: the report of the
    day their lot lapses (after the pull) counts them expired, from the pulled lots."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)  # the till learns the members
    sale = svc.checkout(t, ANNA, svc.resolve_items(t, [("BOOK-COOK", 2)]))
    cashback = next(b["points"] for b in sale["breakdown"] if b["rule"] == "promo:books-cashback")
    assert sync(t)["pushed"] == 1  # and pulled: Anna's lots are now the ledger's
    row = t.store.member(sale["member_id"])
    assert row is not None and row["base_seq"] >= 1
    last_day = t.now().date() + timedelta(days=59)  # 60-day cashback: lapses as day 60 begins
    assert day_report(t, last_day)["expired"] == cashback
    assert day_report(t, last_day - timedelta(days=1))["expired"] == 0
    assert day_report(t, t.now().date(), last_day)["expired"] == cashback


def _lots(snapshot_lots: list[dict]) -> list[tuple[int, str, str | None]]:
    return sorted((lot["points"], lot["earned_at"], lot["expires_at"]) for lot in snapshot_lots)


def _cached_lots(t: svc.Terminal, member_id: str) -> list[tuple[int, str, str | None]]:
    return _lots([lot.to_json() for lot in t.store.account(member_id).lots])


def _paid_with_expiring_points(t: svc.Terminal) -> tuple[dict, date]:
    """Anna gets 600 points that lapse five days ago and 2,000 that last until next year, and
    pays 2,000 points for two bags of beans twenty days ago (the 600 first)."""
    today = t.now()
    svc.adjust(t, ANNA, 600, "welcome", "1234", at=today - timedelta(days=370))
    svc.adjust(t, ANNA, 2000, "survey", "1234", at=today - timedelta(days=40))
    sale = svc.checkout(
        t, ANNA, svc.resolve_items(t, [("ESPRESSO", 2)]), 2000, at=today - timedelta(days=20)
    )
    assert sale["points_redeemed"] == 2000
    return sale, (today - timedelta(days=370)).date()


def test_refunds_give_back_points_with_their_expiry_and_the_ledger_agrees(store, tmp_path) -> None:
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    sale, first_earned = _paid_with_expiring_points(t)
    sync(t)
    today = t.now()
    svc.refund(t, sale["receipt_id"], {"ESPRESSO": 1}, "1234", at=today - timedelta(days=10))
    svc.refund(t, sale["receipt_id"], None, "1234", at=today)  # the 600 lapsed 5 days ago
    assert sync(t)["pushed"] == 2

    at_ledger = ledger_member(store, "M0001")
    lapsed = (600, first_earned.isoformat(), (first_earned + timedelta(days=365)).isoformat())
    assert lapsed in _lots(at_ledger["lots"])  # given back as it was: lapsed, not a new year
    assert _lots(at_ledger["lots"]) == _cached_lots(t, "M0001")
    assert at_ledger["spendable_balance"] == svc.balance(t, ANNA)["balance"] == 2000
    assert [lot["expires_at"] for lot in svc.balance(t, ANNA)["expiring"]] == [
        (today - timedelta(days=40) + timedelta(days=365)).date().isoformat()
    ]

    expired = store.admin.post("/v1/expire").json()
    assert (expired["lots"], expired["points"]) == (1, 600)
    sync(t)
    at_ledger = ledger_member(store, "M0001")
    assert lapsed not in _lots(at_ledger["lots"])
    assert _lots(at_ledger["written_off"]) == [lapsed]  # kept for a late sale or refund
    # the till holds the written-off lot among its lapsed ones
    assert _lots(at_ledger["lots"] + at_ledger["written_off"]) == _cached_lots(t, "M0001")
    assert at_ledger["spendable_balance"] == at_ledger["balance"] == 2000
    assert svc.balance(t, ANNA)["balance"] == 2000
    audit = store.audit()
    assert (audit["sum_of_balances"], audit["members_mismatched"]) == (0, [])
    assert audit["program_accounts"]["program:expired"] == 600  # written off, not renewed
    assert svc.verify(t)["ok"]


def test_points_given_back_lapsed_to_a_member_in_debt_leave_the_debt_at_both_ends(
    store, tmp_path
) -> None:
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    sale, _ = _paid_with_expiring_points(t)
    sync(t)
    owed = ledger_member(store, "M0001")["spendable_balance"] + 1900
    taken = store.admin.post("/v1/members/M0001/adjust", json={"points": -owed, "reason": "fraud"})
    assert taken.status_code == 200, taken.text
    sync(t)
    svc.refund(t, sale["receipt_id"], None, "1234")  # 1,400 live points pay debt, 600 lapsed
    sync(t)
    at_ledger = ledger_member(store, "M0001")
    assert at_ledger["debt"] > 0
    assert _lots(at_ledger["lots"]) == _cached_lots(t, "M0001")
    assert t.store.account("M0001").debt == at_ledger["debt"]
    assert svc.balance(t, ANNA)["balance"] == at_ledger["spendable_balance"] < 0


def test_returning_a_sale_paid_with_a_returned_sales_points_gives_back_what_paid_their_debt(
    store, tmp_path
) -> None:
    """Sale A earns Anna points, sale B pays with them, A is returned (a debt: they were spent),
    sale C's points pay that debt, and B is returned after A's points would have lapsed: A's
    points B gives back settle A's debt, so C's points come back, at the till and the ledger
    alike (before, both left her nothing of C's). A second till pulls what is owed with her."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    today = t.now()
    a = svc.checkout(t, ANNA, svc.resolve_items(t, [("MASCARA", 4)]), at=today - timedelta(400))
    sync(t)
    b = svc.checkout(
        t, ANNA, svc.resolve_items(t, [("BOOK-COOK", 1)]), "max", at=today - timedelta(395)
    )
    spent = b["points_redeemed"]
    assert 0 < spent <= a["points_earned"]
    sync(t)
    a_back = svc.refund(t, a["receipt_id"], None, "1234", at=today - timedelta(390))
    assert a_back["balance"] == b["balance"] - a["points_earned"]  # spent by B: taken elsewhere
    sync(t)
    c = svc.checkout(t, ANNA, svc.resolve_items(t, [("MASCARA", 12)]), at=today - timedelta(300))
    assert c["points_earned"] > spent
    sync(t)
    other = till(store, tmp_path / "t2", "T2")
    sync(other)
    assert other.store.account("M0001") == t.store.account("M0001")  # what is owed, covered
    assert t.store.account("M0001").owed

    back = svc.refund(t, b["receipt_id"], None, "1234")  # A's points lapsed 35 days ago
    assert back["balance"] == c["points_earned"]
    sync(t)
    at_ledger = ledger_member(store, "M0001")
    assert at_ledger["spendable_balance"] == at_ledger["balance"] == c["points_earned"]
    assert _lots(at_ledger["lots"]) == _cached_lots(t, "M0001")
    assert (at_ledger["debt"], at_ledger["owed"], at_ledger["covered"]) == (0, [], [])
    assert svc.balance(t, ANNA)["balance"] == c["points_earned"]
    audit = store.admin.get("/v1/audit").json()
    assert (audit["sum_of_balances"], audit["members_mismatched"]) == (0, [])
    assert svc.verify(t)["ok"]
    sync(other)
    assert svc.balance(other, ANNA)["balance"] == c["points_earned"]


def test_a_sale_that_a_till_paid_with_points_another_till_had_spent_gives_back_the_ones_taken(
    store, tmp_path
) -> None:
    """QA: T1 and T2 each paid 1,000 of Anna's points, T2 not having seen T1's sale: both
    recorded her older lot, the ledger took T2's payment from her newer one. Returning T2's sale
    after the older lot lapsed gave back lapsed points (she lost the 1,000 the ledger had taken
    from the newer lot), and returning everything left her 1,000 in debt."""
    t1, t2 = till(store, tmp_path / "t1", "T1"), till(store, tmp_path / "t2", "T2")
    sync(t1)
    today = t1.now()
    svc.adjust(t1, ANNA, 1000, "old", "1234", at=today - timedelta(400))  # lapsed 35 days ago
    svc.adjust(t1, ANNA, 1000, "new", "1234", at=today - timedelta(100))
    sync(t1)
    sync(t2)
    mascara = [("MASCARA", 1)]
    a = svc.checkout(t1, ANNA, svc.resolve_items(t1, mascara), 1000, at=today - timedelta(50))
    b = svc.checkout(t2, ANNA, svc.resolve_items(t2, mascara), 1000, at=today - timedelta(49))
    for t in (t1, t2, t1):
        sync(t)
    svc.refund(t2, b["receipt_id"], None, "1234")
    for t in (t2, t1):
        sync(t)
    kept = 1000 + a["points_earned"]  # the newer lot, which the ledger took for T2's sale
    assert ledger_member(store, "M0001")["spendable_balance"] == kept
    assert svc.balance(t1, ANNA)["balance"] == svc.balance(t2, ANNA)["balance"] == kept

    svc.refund(t1, a["receipt_id"], None, "1234")
    svc.adjust(t1, ANNA, -1000, "the newer lot back", "1234")
    for t in (t1, t2):
        sync(t)
    at_ledger = ledger_member(store, "M0001")
    assert at_ledger["spendable_balance"] == 0 and at_ledger["debt"] == 0
    assert svc.balance(t2, ANNA)["balance"] == 0
    audit = store.admin.get("/v1/audit").json()
    assert (audit["sum_of_balances"], audit["members_mismatched"]) == (0, [])
    assert svc.verify(t1)["ok"] and svc.verify(t2)["ok"]


def test_a_till_set_up_with_its_own_program_file_sells_by_the_ledgers_after_a_sync(
    store, tmp_path
) -> None:
    """The file a till was set up with rules only until the ledger's program arrives, even at
    the same version number: ten times the points at one till would reach every member."""
    ten = tmp_path / "ten.toml"
    ten.write_text(
        (ROOT / "config/program.example.toml")
        .read_text()
        .replace("points_per_unit = 1 ", "points_per_unit = 10 ", 1)
    )
    t = till(store, tmp_path / "t1", "T1", program=ten)
    app = open_terminal(t.home)  # another program on the same cache (the app) holds it parsed
    assert t.program.earn.points_per_unit == app.program.earn.points_per_unit == 10
    sync(t)
    assert app.program.earn.points_per_unit == 1
    assert t.program.version == 1 and t.program.earn.points_per_unit == 1
    same = till(store, tmp_path / "t2", "T2")  # set up with the ledger's own file
    sync(same)
    basket = [("MASCARA", 1), ("BOOK-COOK", 2)]
    sale = svc.checkout(t, ANNA, svc.resolve_items(t, basket))
    quoted = svc.price_basket(same, ANNA, svc.resolve_items(same, basket), None)[0]
    assert sale["points_earned"] == quoted.points_earned > 0
    assert sync(t)["pushed"] == 1
    assert ledger_member(store, "M0001")["balance"] == sale["balance"]


def test_a_till_in_another_currency_than_the_ledger_is_told_and_keeps_its_program(
    store, tmp_path
) -> None:
    usd = tmp_path / "usd.toml"
    usd.write_text((ROOT / "config/program.example.toml").read_text().replace('"EUR"', '"USD"', 1))
    t = till(store, tmp_path / "t1", "T1", program=usd)
    svc.checkout(t, None, svc.resolve_items(t, [("MILK", 1)]))  # sold before its first sync
    with pytest.raises(
        SyncError, match="in EUR, but this terminal keeps its prices and sales in USD"
    ):
        sync(t)
    assert t.program.currency == "USD"
    assert t.store.one("SELECT COUNT(*) AS n FROM members")["n"] == 0  # nothing pulled
    # The ledger did not take the USD sale as euros: it holds it back, saying why.
    (held,) = t.store.rejected()
    assert "in USD, but the ledger keeps them in EUR" in held["ack_reason"]
    assert store.admin.get("/v1/audit").json()["sum_of_balances"] == 0


def test_a_till_with_a_ledger_refuses_a_members_file_and_records_nothing(store, tmp_path) -> None:
    t = till(store, tmp_path / "t1", "T1")
    with pytest.raises(Refused, match="takes its members from the ledger"):
        import_members(t, ROOT / "config/demo/members.csv")
    assert t.store.one("SELECT COUNT(*) AS n FROM members")["n"] == 0
    assert list(t.store.events()) == []


async def test_the_app_sends_a_sale_to_the_ledger_right_after_it_not_at_the_next_interval(
    store, tmp_path
) -> None:
    """The background sync runs every `sync_interval_s` (an hour here) and right after each
    sale: the ledger has the sale while the receipt is still on the screen."""
    import asyncio

    from loyalty_pos.tui.app import CheckoutApp
    from tests.tui.pilot import fill, press, settle, until

    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    config = t.home / "terminal.toml"
    config.write_text(
        config.read_text().replace("[ledger]\n", "[ledger]\nsync_interval_s = 3600\n")
    )
    t.store.close()
    t = open_terminal(t.home)
    assert t.config.ledger.sync_interval_s == 3600
    app = CheckoutApp(t)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "MASCARA")
        await press(pilot, "f9")
        sale = t.store.event_by_receipt("T1-000001")
        assert sale is not None
        for _ in range(250):  # up to 5 s
            if ledger_member(store, "M0001")["balance"] > 0:
                break
            await asyncio.sleep(0.02)
        await until(pilot, lambda: t.store.outbox_count() == 0)
    assert ledger_member(store, "M0001")["balance"] == sale["points_earned"] > 0


@pytest.mark.parametrize("written_off", [False, True], ids=["before-the-expiry-run", "after-it"])
def test_a_sale_returned_after_its_cashback_lapsed_unused_takes_nothing_else_for_it(
    store, tmp_path, written_off: bool
) -> None:
    """Anna holds 1,000 points and buys two novels 70 days ago: points for a year and 60-day
    book cashback, which lapses unused. Returned today, the sale takes its cashback back from
    the lapsed lot, not out of her 1,000, whether the ledger's expiry run wrote the cashback off
    before the refund or not; the till and the ledger agree, the books balance, and neither
    day counts the cashback expired for good."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    today = t.now()
    svc.adjust(t, ANNA, 1000, "welcome", "1234", at=today - timedelta(days=80))
    start = svc.balance(t, ANNA, at=today - timedelta(days=71))["balance"]
    sale = svc.checkout(
        t, ANNA, svc.resolve_items(t, [("BOOK-NOVEL", 2)]), at=today - timedelta(days=70)
    )
    cashback = sum(b["points"] for b in sale["breakdown"] if b["rule"] == "promo:books-cashback")
    assert cashback > 0
    assert svc.balance(t, ANNA, at=today)["balance"] == start + sale["points_earned"] - cashback
    sync(t)
    if written_off:
        assert store.admin.post("/v1/expire").json()["points"] == cashback
        sync(t)  # the pull brings the written-off lot to the till, among the lapsed ones

    refunded = svc.refund(t, sale["receipt_id"], None, "1234", at=today)
    assert refunded["points_reversed"] == sale["points_earned"]
    assert refunded["balance"] == start  # not start - cashback
    assert sync(t)["pushed"] == 1
    if not written_off:
        assert store.admin.post("/v1/expire").json()["points"] == 0  # nothing left to lapse

    at_ledger = ledger_member(store, "M0001")
    assert at_ledger["spendable_balance"] == svc.balance(t, ANNA)["balance"] == start
    audit = store.audit()
    assert (audit["sum_of_balances"], audit["members_mismatched"]) == (0, [])
    assert audit["program_accounts"].get("program:expired", 0) == 0
    day = today.date().isoformat()
    there = store.admin.get("/v1/reports/summary", params={"from": day, "to": day}).json()
    assert there["points"]["expired"] == 0  # written off, then taken back with the sale
    assert there["points"]["issued"] == -sale["points_earned"]
    assert svc.verify(t)["ok"]


def test_a_sale_paying_with_points_written_off_before_it_reached_the_ledger_is_not_charged_twice(
    store, tmp_path
) -> None:
    """QA: Anna's book cashback lapses on a day; the day before, a till takes 200 of it as a
    payment, and pushes only after the ledger's nightly run has written the whole lot off (a
    till offline over the night). The ledger takes the payment from the points live on the
    sale's day, the written-off ones among them: 200 redeemed and 80 expired, not 280 expired
    and 200 more taken as a debt; the till agrees after its pull."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    today = t.now()
    start = svc.balance(t, ANNA, at=today - timedelta(days=71))["balance"]
    books = svc.checkout(
        t, ANNA, svc.resolve_items(t, [("BOOK-NOVEL", 2)]), at=today - timedelta(days=70)
    )
    cashback = sum(b["points"] for b in books["breakdown"] if b["rule"] == "promo:books-cashback")
    assert cashback == 280  # lapses as the day 10 days ago begins
    sync(t)
    paid = svc.checkout(
        t, ANNA, svc.resolve_items(t, [("BOOK-COOK", 1)]), 200, at=today - timedelta(days=11)
    )
    assert paid["points_redeemed"] == 200
    assert store.admin.post("/v1/expire").json()["points"] == cashback  # the sale is not there yet

    assert sync(t)["pushed"] == 1
    expected = start + books["points_earned"] - 200 - (cashback - 200) + paid["points_earned"]
    at_ledger = ledger_member(store, "M0001")
    assert at_ledger["debt"] == 0
    assert at_ledger["spendable_balance"] == svc.balance(t, ANNA)["balance"] == expected
    audit = store.audit()
    assert (audit["sum_of_balances"], audit["members_mismatched"]) == (0, [])
    assert audit["program_accounts"]["program:expired"] == cashback - 200
    window = {
        "from": (today - timedelta(days=80)).date().isoformat(),
        "to": today.date().isoformat(),
    }
    there = store.admin.get("/v1/reports/summary", params=window).json()["points"]
    assert (there["expired"], there["redeemed"]) == (cashback - 200, 200)
    # QA: the points booked back from program:expired were dated at the sale, before any run:
    # that day's report said "expired -200", and the run's day 280 rather than the net 80
    days = {}
    for name, day in (("sale", today - timedelta(days=11)), ("run", today)):
        one = {"from": day.date().isoformat(), "to": day.date().isoformat()}
        days[name] = store.admin.get("/v1/reports/summary", params=one).json()["points"]
    assert (days["sale"]["expired"], days["sale"]["redeemed"]) == (0, 200)
    assert days["run"]["expired"] == cashback - 200
    assert svc.verify(t)["ok"]


def test_offline_sales_to_a_member_frozen_or_on_a_card_blocked_at_the_ledger_are_listed(
    store, tmp_path
) -> None:
    """QA: a till that had not pulled yet sold to a member the ledger had frozen (a fraud
    check) and on a card blocked there, each paying 1,000 points; the ledger took both (the
    goods had left) and its report said nothing of them."""
    t = till(store, tmp_path / "t1", "T1")
    for member_id in ("M0001", "M0002"):
        given = {"points": 3000, "reason": "seed"}
        assert store.admin.post(f"/v1/members/{member_id}/adjust", json=given).status_code == 200
    sync(t)
    before = svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))  # before the freeze
    sync(t)
    frozen = store.admin.post("/v1/members/M0001/freeze", json={"reason": "fraud check"})
    assert frozen.status_code == 200, frozen.text
    assert store.admin.post(f"/v1/cards/{BEN}/block").status_code == 200
    lines = svc.resolve_items(t, [("FACECREAM", 1)])
    sales = [svc.checkout(t, card, lines, 1000) for card in (ANNA, BEN)]  # the till has not heard
    assert sync(t)["rejected"] == 0
    today = t.now().date().isoformat()
    report = store.admin.get("/v1/reports/summary", params={"from": today, "to": today}).json()
    listed = [
        (r["receipt_id"], r["why"], r["points_redeemed"]) for r in report["sales_while_stopped"]
    ]
    assert listed == [
        (sales[0]["receipt_id"], "frozen", 1000),
        (sales[1]["receipt_id"], "card_blocked", 1000),
    ]
    assert before["receipt_id"] not in {r[0] for r in listed}
    text = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.ledger", "report", "--db", store.db_url]
        + ["--from", today, "--to", today],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=True,
    ).stdout
    assert "sales to a frozen member or on a blocked card: 2" in text
    assert (
        f"M0001: {today} at T1 ({sales[0]['receipt_id']}), member frozen, 1000 points paid" in text
    )


def test_a_refund_made_offline_gives_back_the_offline_cap_its_sale_used(store, tmp_path) -> None:
    """QA: offline, a member paid the day's 5,000 points, the sale was refunded in full (the
    points came back), and the next sale could pay none of the 11,065 points left."""
    store.admin.post("/v1/members/M0001/adjust", json={"points": 11000, "reason": "welcome gift"})
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    t.store.set_meta("last_sync_at", (t.now() - timedelta(hours=2)).isoformat())  # offline
    basket = svc.resolve_items(t, [("OLIVEOIL", 10)])  # 89.90: enough to pay 5000 points
    first = svc.checkout(t, ANNA, basket, "max")
    assert first["points_redeemed"] == 5000
    back = svc.refund(t, first["receipt_id"], {"OLIVEOIL": 4}, "1234")
    again = svc.checkout(t, ANNA, basket, "max")
    assert again["points_redeemed"] == back["points_restored"] > 0  # what came back, no more
    assert svc.checkout(t, ANNA, basket, "max")["points_redeemed"] == 0
    assert sync(t)["rejected"] == 0
    assert ledger_member(store, "M0001")["balance"] == svc.balance(t, ANNA)["balance"]
