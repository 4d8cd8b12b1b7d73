"""The tier window's spend read from ``spend_days`` (one row per member and day) plus the journal
for the day the window starts in: the same figure as summing every sale, kept right by sales,
refunds and pulls, checked by ``verify``, and built by the upgrade of an older cache."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty_pos import checkout as svc
from loyalty_pos.domain.lots import Account, Lot
from loyalty_pos.sync.client import apply_snapshots

from ..conftest import NOW
from .test_services import BEN, buy

ROOT = Path(__file__).resolve().parents[2]


def spend(t: svc.Terminal, at) -> Decimal:
    return svc.find_member(t, BEN, at).state.qualifying_spend


def summed(t: svc.Terminal, member_id: str, since) -> int:
    """Every sale of the member after ``since`` and above its base, the long way: a refund
    counts at its sale's moment."""
    base = t.store.member(member_id)["base_seq"]

    def moment(e: dict) -> datetime:
        if e["type"] == "refund":
            e = t.store.event_by_receipt(e["original_receipt_id"])
        return datetime.fromisoformat(e["occurred_at"])

    return sum(
        e.get("due_minor", 0) if e["type"] == "checkout" else -e.get("refund_minor", 0)
        for e in t.store.events()
        if e.get("member_id") == member_id and e["seq"] > base and moment(e) > since
    )


def test_the_window_counts_sales_to_the_second_across_days(demo) -> None:
    window = timedelta(days=demo.program.tier_window_days)
    morning = NOW.replace(hour=9)
    evening = NOW.replace(hour=19)
    buy(demo, BEN, "MASCARA", at=morning - timedelta(days=3))  # three days before
    buy(demo, BEN, "BOOK-NOVEL", at=morning)
    buy(demo, BEN, "MASCARA", at=evening)
    refund = svc.refund(demo, f"{demo.config.terminal_id}-000002", None, "1234", at=evening)
    assert refund["points_reversed"] > 0

    # money paid (points and promotions off): 12.95 + 14.00 + 12.95, less the 14.00 refunded
    everything = Decimal("25.90")
    assert spend(demo, morning - timedelta(days=3, seconds=1) + window) == everything
    assert spend(demo, evening + timedelta(seconds=1) + window) == 0
    # window starts at each sale, a second either side, and in the middle of a day
    starts = [morning - timedelta(days=3), morning, evening, morning + timedelta(hours=5)]
    for start in starts:
        for since in (start - timedelta(seconds=1), start, start + timedelta(seconds=1)):
            expected = Decimal(summed(demo, "M0002", since)) / 100
            assert spend(demo, since + window) == expected, since
    assert svc.verify(demo)["ok"]


def test_verify_names_a_member_whose_cached_spend_drifted(demo) -> None:
    buy(demo, BEN, "MASCARA")
    assert svc.verify(demo)["ok"]
    demo.store.conn.execute("UPDATE spend_days SET spend_minor = spend_minor + 1")
    report = svc.verify(demo)
    assert not report["ok"]
    assert report["problems"] == [
        "member M0002: cached tier spend per day differs from the journal"
    ]


def test_a_pulled_snapshot_leaves_only_the_uncounted_sales_in_the_cache(demo) -> None:
    first = buy(demo, BEN, "MASCARA", at=NOW - timedelta(days=1))
    buy(demo, BEN, "BOOK-NOVEL")
    counted = demo.store.event_by_receipt(first["receipt_id"])["seq"]
    snapshot = {
        "member_id": "M0002",
        "name": "Ben",
        "cards": [{"card": BEN, "status": "active"}],
        "tier": "Bronze",
        "balance": 0,
        "lots": [],
        "status": "active",
        "qualifying_spend_minor": 1295,  # the ledger counted the first sale (12.95 paid)
        "counted_through": {demo.config.terminal_id: counted},
    }
    with demo.store.transaction():
        apply_snapshots(demo, [snapshot])
    rows = [tuple(r) for r in demo.store.query("SELECT * FROM spend_days ORDER BY day")]
    assert rows == [("M0002", NOW.astimezone(UTC).date().isoformat(), 1400)]
    assert spend(demo, NOW) == Decimal("26.95")
    assert svc.verify(demo)["ok"]


def test_a_cache_from_an_earlier_release_upgrades_in_place(tmp_path: Path) -> None:
    """A cache at migration m002 with sales, a refund, receipts and lots: the upgrade builds the
    per-day spend from the journal (above each member's base), moves the lots onto the member's
    row in their order, and keeps every receipt findable."""
    from sqlite_utils import Database

    from loyalty_pos.store import open_store
    from loyalty_pos.store.schema import migrations

    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="m003_lean_checkout")
    old.execute("INSERT INTO members (member_id, name, base_seq) VALUES ('M1', 'Ann', 1)")
    rows = [  # seq, type, occurred_at, member, receipt, spend
        (1, "checkout", "2026-11-20T10:00:00+00:00", "M1", "T1-000001", 1000),  # counted
        (2, "checkout", "2026-11-20T12:00:00+00:00", "M1", "T1-000002", 700),
        (3, "checkout", "2026-11-21T09:00:00+00:00", None, "T1-000003", 0),
        (4, "refund", "2026-11-21T10:00:00+00:00", "M1", "T1-000004", -200),
        (5, "checkout", "2026-11-21T11:00:00+00:00", "M1", "T1-000005", 300),
    ]
    for seq, kind, occurred, member, receipt, spend_minor in rows:
        body = json.dumps({"seq": seq, "type": kind, "receipt_id": receipt})
        old.execute(
            "INSERT INTO journal (seq, event_id, type, occurred_at, member_id, receipt_id, "
            "spend_minor, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [seq, f"e{seq}", kind, occurred, member, receipt, spend_minor, body, f"h{seq}"],
        )
        old.execute(
            "INSERT INTO receipts (receipt_id, seq, kind, extra, printed_at) VALUES (?, ?, ?, ?, ?)",
            [receipt, seq, "refund" if kind == "refund" else "sale", f'{{"n": {seq}}}', None],
        )
    old.execute(
        "INSERT INTO lots (member_id, points, earned_at, expires_at) VALUES "
        "('M1', 40, '2026-11-20', '2027-11-20'), ('M1', 15, '2026-11-21', NULL)"
    )
    old.conn.commit()
    old.close()

    store = open_store(path)
    try:
        assert store.account("M1") == Account(
            (Lot(40, date(2026, 11, 20), date(2027, 11, 20)), Lot(15, date(2026, 11, 21), None))
        )
        assert store.account("M-unknown") == Account()
        days = [tuple(r) for r in store.query("SELECT * FROM spend_days ORDER BY day")]
        assert days == [("M1", "2026-11-20", 700), ("M1", "2026-11-21", 100)]
        assert [r["receipt_id"] for r in store.query("SELECT receipt_id FROM journal")] == [
            f"T1-00000{n}" for n in range(1, 6)
        ]
        body, extra = store.receipt("T1-000004")
        assert body["type"] == "refund" and extra == {"n": 4}
        store.mark_printed("T1-000004", None, "paper out")
        assert store.unprinted() == ["T1-000004"]
        assert store.last_receipt_id() == "T1-000005"
        plan = " ".join(
            str(r[3])
            for r in store.query(
                "EXPLAIN QUERY PLAN SELECT SUM(spend_minor) FROM journal WHERE member_id = ? "
                "AND occurred_at > ? AND occurred_at < ? AND seq > ?",
                ("M1", "2026-11-20T11", "2026-11-21", 1),
            )
        )
        assert (
            "COVERING INDEX journal_member (member_id=? AND occurred_at>? AND occurred_at<?)"
            in plan
        )
        refund_plan = " ".join(
            str(r[3])
            for r in store.query(
                "EXPLAIN QUERY PLAN SELECT body FROM journal WHERE original_receipt_id = ?", ("R",)
            )
        )
        assert "journal_original" in refund_plan
    finally:
        store.close()


def ben_snapshot(**fields) -> dict:
    """Ben as a ledger sends him, counting none of this till's sales."""
    return {
        "member_id": "M0002",
        "name": "Ben",
        "cards": [{"card": BEN, "status": "active"}],
        "tier": "Malachite",
        "balance": 0,
        "lots": [],
        "status": "active",
        "counted_through": {},
        **fields,
    }


def test_the_ledgers_dated_spend_slides_with_the_window_beside_this_tills_own(demo) -> None:
    window = timedelta(days=demo.program.tier_window_days)
    old = NOW - timedelta(days=300)
    recent = NOW - timedelta(days=10)
    snapshot = ben_snapshot(
        qualifying_spend_minor=60_000,
        window_spend=[
            [old.astimezone(UTC).isoformat(), 55_000],
            [recent.isoformat(), 7_000],  # any offset: it is a moment
            [recent.isoformat(), -2_000],  # a refund of the same moment
        ],
    )
    with demo.store.transaction():
        apply_snapshots(demo, [snapshot])
    buy(demo, BEN, "MASCARA")  # 12.95 here, not counted by the ledger yet
    dated = demo.store.query("SELECT at_us, spend_minor FROM base_spend ORDER BY at_us")
    assert [tuple(r) for r in dated] == [
        (int(old.timestamp()) * 1_000_000, 55_000),
        (int(recent.timestamp()) * 1_000_000, 5_000),
    ]

    assert spend(demo, NOW) == Decimal("612.95")
    assert svc.find_member(demo, BEN, NOW).tier.tier.name == "Sapphire"
    assert spend(demo, old + window - timedelta(microseconds=1)) == Decimal("612.95")
    assert spend(demo, old + window) == Decimal("62.95")
    assert svc.find_member(demo, BEN, old + window).tier.tier.name == "Malachite"
    assert spend(demo, recent + window) == Decimal("12.95")
    assert spend(demo, old - timedelta(days=1)) == Decimal("12.95")  # before the ledger's sales


def test_a_snapshot_without_dated_spend_keeps_the_ledgers_figure_at_the_pull(demo) -> None:
    """A ledger of an earlier release sends only its figure at the pull: it stands for the
    window until the member's next snapshot, as it always did. The next dated one replaces it."""
    window = timedelta(days=demo.program.tier_window_days)
    with demo.store.transaction():
        apply_snapshots(demo, [ben_snapshot(qualifying_spend_minor=60_000)])
    buy(demo, BEN, "MASCARA")
    for at in (NOW, NOW + window - timedelta(days=1)):
        assert spend(demo, at) == Decimal("612.95")
    assert spend(demo, NOW + window) == Decimal("600.00")  # this till's sale has left
    assert demo.store.member("M0002")["base_spend_dated"] == 0

    dated = [[(NOW - timedelta(days=300)).isoformat(), 60_000]]
    with demo.store.transaction():
        apply_snapshots(demo, [ben_snapshot(qualifying_spend_minor=60_000, window_spend=dated)])
    assert spend(demo, NOW) == Decimal("612.95")
    assert spend(demo, NOW + timedelta(days=65)) == Decimal("12.95")
    with demo.store.transaction():  # and back to an older ledger
        apply_snapshots(demo, [ben_snapshot(qualifying_spend_minor=1_000)])
    assert demo.store.query("SELECT * FROM base_spend") == []
    assert spend(demo, NOW + timedelta(days=65)) == Decimal("22.95")


def test_dated_spend_the_terminal_cannot_read_is_refused_and_nothing_stored(demo) -> None:
    from loyalty_pos.sync import SyncError

    for bad in ([["yesterday", 100]], [[NOW.isoformat(), 1.5]], [[NOW.isoformat()]], 7):
        snapshot = ben_snapshot(qualifying_spend_minor=100, window_spend=bad)
        with pytest.raises(SyncError, match="member M0002's spend in the tier window"):
            with demo.store.transaction():
                apply_snapshots(demo, [snapshot])
        assert demo.store.member("M0002")["base_spend_dated"] == 0
        assert demo.store.query("SELECT * FROM base_spend") == []


def test_a_cache_upgraded_to_dated_spend_reads_its_members_as_before(tmp_path: Path) -> None:
    """Members pulled before the upgrade keep the ledger's figure of their pull (until a pull
    brings their dated spend); nothing else about them changes."""
    from sqlite_utils import Database

    from loyalty_pos.store import open_store
    from loyalty_pos.store.schema import migrations

    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="m005_dated_base_spend")
    old.execute(
        "INSERT INTO members (member_id, name, base_seq, base_spend_minor) "
        "VALUES ('M1', 'Ann', 0, 60000)"
    )
    old.execute("INSERT INTO meta (key, value) VALUES ('pull_cursor', '41')")
    old.conn.commit()
    old.close()

    store = open_store(path)
    try:
        member = store.member("M1")
        assert (member["base_spend_dated"], member["base_spend_minor"]) == (0, 60000)
        year = timedelta(days=365)
        for now in (NOW, NOW + 2 * year):
            assert store.tier_spend_minor(member, now - year, now) == 60000
        assert store.query("SELECT * FROM base_spend") == []
        assert store.meta("pull_cursor") == "41"
    finally:
        store.close()


# -- A refund counts at its sale's moment ------------------------------------------------------


def cli(home: Path, *args: str) -> dict:
    """``loyalty-pos --home HOME --json ARGS``, as QA ran it."""
    done = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(home), "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_returning_a_sale_that_left_the_window_keeps_the_tier_the_rest_earned(
    tmp_path: Path,
) -> None:
    """QA: a sale of January 2026, returned in March 2027 after a sale of 520.00 made the member
    Sapphire, took the tier away (the window read as 220.00): the refund counted on its own day,
    though its sale had left the window."""
    home = tmp_path / "t1"
    program = str(ROOT / "config/program.example.toml")
    cli(home, "init", "--terminal-id", "T1", "--program", program, "--manager-pin", "1234")
    cli(home, "enroll", "--card", "LC00000001", "--at", "2026-01-05T10:00")
    cli(
        home,
        "checkout",
        "--card",
        "LC00000001",
        "--line",
        "300:household",
        "--at",
        "2026-01-10T10:00",
    )
    sale = cli(
        home,
        "checkout",
        "--card",
        "LC00000001",
        "--line",
        "520:household",
        "--at",
        "2027-03-01T10:00",
    )
    assert sale["tier"] == "Sapphire"  # the 300.00 has left the window

    cli(home, "refund", "T1-000002", "--manager-pin", "1234", "--at", "2027-03-02T10:00")
    shown = cli(home, "balance", "LC00000001", "--at", "2027-03-02T10:01")
    assert (shown["tier"], shown["spend_to_next_tier"]) == ("Sapphire", "480.00")  # 520 of 1000
    printed = cli(home, "receipt", "T1-000004")["text"].splitlines()  # the refund's receipt
    assert [line.split() for line in printed if line.startswith("Tier")] == [["Tier", "Sapphire"]]
    assert cli(home, "verify")["ok"]


def test_a_sale_and_its_refund_leave_the_window_together(demo) -> None:
    """The mirror case: a sale in January refunded in March. A year after the sale the window
    holds neither, not the refund alone (which understated the member's spend by the sale for
    two months, and with a short window made it negative)."""
    window = timedelta(days=demo.program.tier_window_days)
    sold_at = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
    sale = svc.checkout(
        demo, BEN, svc.resolve_items(demo, [], [("300.00", "household")]), at=sold_at
    )
    refund = svc.refund(demo, sale["receipt_id"], None, "1234", at=datetime(2026, 3, 2, tzinfo=UTC))
    assert refund["fully_refunded"]
    for at in (sold_at + timedelta(days=1), sold_at + window - timedelta(seconds=1)):
        assert spend(demo, at) == 0  # both in
    for at in (
        sold_at + window,
        datetime(2027, 2, 1, tzinfo=UTC),
        datetime(2027, 3, 3, tzinfo=UTC),
    ):
        assert spend(demo, at) == 0, at  # both out: was -300.00 until March 2027
    days = demo.store.query("SELECT day, spend_minor FROM spend_days WHERE spend_minor != 0")
    assert days == []  # the refund's money is on its sale's day
    assert svc.verify(demo)["ok"]


def test_a_partial_refund_counts_on_its_sales_day_in_and_out_of_the_window(demo) -> None:
    """Part of a 600.00 sale comes back while the sale is in the window: the tier falls to what
    is left, on the refund's receipt too. The rest comes back after the sale left: nothing in the
    window moves, and a sale made since keeps its tier."""
    window = timedelta(days=demo.program.tier_window_days)
    sold_at = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
    lines = svc.resolve_items(demo, [], [("400.00", "household"), ("200.00", "grocery")])
    sale = svc.checkout(demo, BEN, lines, at=sold_at)
    assert sale["tier"] == "Sapphire"
    first = svc.refund(
        demo, sale["receipt_id"], {"OPEN:grocery": 1}, "1234", at=sold_at + timedelta(days=30)
    )
    assert first["refunded"] == "200.00" and not first["fully_refunded"]
    assert demo.store.receipt(first["receipt_id"])[1]["tier"] == "Malachite"  # 400.00 left
    assert spend(demo, sold_at + timedelta(days=31)) == Decimal("400.00")
    assert svc.verify(demo)["ok"]

    later = sold_at + window + timedelta(days=20)
    svc.checkout(demo, BEN, svc.resolve_items(demo, [], [("550.00", "household")]), at=later)
    rest = svc.refund(demo, sale["receipt_id"], None, "1234", at=later + timedelta(days=1))
    assert rest["refunded"] == "400.00" and rest["fully_refunded"]
    assert demo.store.receipt(rest["receipt_id"])[1]["tier"] == "Sapphire"
    assert spend(demo, later + timedelta(days=2)) == Decimal("550.00")
    assert svc.find_member(demo, BEN, later + timedelta(days=2)).tier.tier.name == "Sapphire"
    # the window starting on the sale's day, to the second, reads the journal for that day
    for since in (sold_at - timedelta(seconds=1), sold_at, sold_at + timedelta(hours=1)):
        expected = Decimal(summed(demo, "M0002", since)) / 100
        assert spend(demo, since + window) == expected, since
    assert svc.verify(demo)["ok"]
