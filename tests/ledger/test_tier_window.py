"""The tier window slides at every till, between pulls and offline, as it does at the ledger: a
member's big sale of eleven months ago lifts their tier today and no longer once it is a year
old, at the till that made it and at another one that only pulled it, with no pull in between.
The till's figure is the ledger's own for the same moment, to the microsecond. A ledger of an
earlier release (snapshots without their dated spend) still works as before, and once it is
upgraded the next pull brings every member again."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from ledger_helpers import LedgerServer, subprocess_env
from test_terminal_sync import ANNA, ledger_cli, till

from loyalty_pos import checkout as svc
from loyalty_pos.domain.money import to_minor
from loyalty_pos.ledger.store import LedgerStore
from loyalty_pos.sync import sync
from loyalty_pos.sync.client import LedgerClient

ROOT = Path(__file__).resolve().parents[2]
WINDOW = timedelta(days=365)  # tiers.window_days of the example program


@pytest.fixture
def shop(fresh_ledger: LedgerServer) -> LedgerServer:
    """A ledger holding the demo store's members and the example program (Sapphire from 500.00
    of qualifying spend)."""
    ledger_cli(fresh_ledger, "members", "import", str(ROOT / "config/demo/members.csv"))
    ledger_cli(fresh_ledger, "program", "set", str(ROOT / "config/program.example.toml"))
    return fresh_ledger


def sell(t: svc.Terminal, amount: str, at: datetime) -> dict:
    """Anna pays ``amount`` in money at ``at``."""
    return svc.checkout(t, ANNA, svc.resolve_items(t, [], [(amount, "grocery")]), at=at)


def spend_minor(t: svc.Terminal, at: datetime) -> int:
    return to_minor(svc.find_member(t, ANNA, at).state.qualifying_spend, t.program.currency)


def tier(t: svc.Terminal, at: datetime) -> str:
    return svc.find_member(t, ANNA, at).tier.tier.name


def ledger_spend_minor(shop: LedgerServer, at: datetime) -> int:
    """The ledger's own qualifying spend of Anna at the moment ``at`` (its store on the same
    database, with its clock at ``at``)."""
    ledger = LedgerStore.open(shop.db_url, clock=lambda: at)
    try:
        return int(ledger.card_snapshot(ANNA)["qualifying_spend_minor"])
    finally:
        ledger.close()


@pytest.fixture
def year_of_sales(shop: LedgerServer, tmp_path: Path) -> tuple[svc.Terminal, datetime, datetime]:
    """Till T1 sold Anna 600.00 eleven months ago and 20.00 yesterday, and synced: the ledger
    has both. Returns T1, the moment the big sale leaves the window, and now."""
    now = datetime.now(UTC)
    big_sale = (now - timedelta(days=330)).replace(microsecond=250_000)
    t1 = till(shop, tmp_path / "t1", "T1")
    sync(t1)
    sell(t1, "600.00", big_sale)
    sell(t1, "20.00", now - timedelta(days=1))
    assert sync(t1)["pushed"] == 2
    return t1, big_sale + WINDOW, now


def test_a_tier_earned_by_old_spend_lapses_at_another_till_without_a_pull(
    shop: LedgerServer, tmp_path: Path, year_of_sales
) -> None:
    t1, drops_out, now = year_of_sales
    t2 = till(shop, tmp_path / "t2", "T2")
    assert sync(t2)["pulled"] == 20
    cursor = t2.store.meta("pull_cursor")

    assert tier(t2, now) == "Sapphire"
    assert tier(t2, drops_out - timedelta(microseconds=1)) == "Sapphire"
    assert tier(t2, drops_out) == "Malachite"
    assert spend_minor(t2, drops_out) == 2000
    # the till that made the sales reads its member from the ledger's snapshot too
    assert (tier(t1, now), tier(t1, drops_out)) == ("Sapphire", "Malachite")

    # Two months on, offline: the CLI at T2 shows the lower tier, and a sale there earns no
    # tier bonus.
    later = now + timedelta(days=60)
    shown = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(t2.home), "balance", ANNA]
        + ["--at", later.isoformat(), "--json"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["tier"] == "Malachite"
    sale = sell(t2, "40.00", later)
    assert sale["offline"] is True
    assert [line["rule"] for line in sale["breakdown"]] == ["base"]
    assert t2.store.event_by_receipt(sale["receipt_id"])["tier"] == "Malachite"
    assert t2.store.meta("pull_cursor") == cursor  # no pull in between


def test_the_tills_window_is_the_ledgers_for_the_same_moment(
    shop: LedgerServer, tmp_path: Path, year_of_sales
) -> None:
    t1, drops_out, now = year_of_sales
    t2 = till(shop, tmp_path / "t2", "T2")
    sync(t2)
    us = timedelta(microseconds=1)
    moments = [
        now - timedelta(days=400),  # before either sale: the ledger counts neither yet
        now - timedelta(days=2),
        now,
        drops_out - us,
        drops_out,
        drops_out + us,
        now + timedelta(days=364),  # the small sale's last day in the window
        now + timedelta(days=366),
    ]
    for at in moments:
        expected = ledger_spend_minor(shop, at)
        assert spend_minor(t2, at) == spend_minor(t1, at) == expected, at
    assert [ledger_spend_minor(shop, at) for at in (now, drops_out, now + WINDOW)] == [
        62000,
        2000,
        0,
    ]


class OlderLedger(httpx.HTTPTransport):
    """The ledger as a release before dated spend answers a pull: no ``window_spend`` in its
    snapshots, no ``snapshot_format``."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path != "/v1/sync/pull" or response.status_code != 200:
            return response
        page = json.loads(response.read())
        page.pop("snapshot_format", None)
        for snap in page["members"]:
            snap.pop("window_spend", None)
        return httpx.Response(200, json=page)


def test_an_older_ledger_keeps_the_pulled_figure_and_its_upgrade_brings_every_member_again(
    shop: LedgerServer, tmp_path: Path, year_of_sales
) -> None:
    _t1, drops_out, now = year_of_sales
    t2 = till(shop, tmp_path / "t2", "T2")
    older = LedgerClient(shop.base_url, t2.config.ledger.token, transport=OlderLedger())
    try:
        assert sync(t2, older)["pulled"] == 20
    finally:
        older.close()
    # the ledger's figure at the pull stands for the window, as it did before dated spend
    assert tier(t2, drops_out + timedelta(days=1)) == "Sapphire"
    assert spend_minor(t2, drops_out + timedelta(days=1)) == 62000

    # The ledger is upgraded. Nobody's record changed, yet every member comes again, once.
    assert sync(t2)["pulled"] == 20
    assert tier(t2, now) == "Sapphire"
    assert tier(t2, drops_out) == "Malachite"
    assert sync(t2)["pulled"] == 0


# -- A refund counts at its sale's moment ------------------------------------------------------


def snapshot_at(shop: LedgerServer, at: datetime) -> dict:
    """Anna's snapshot as the ledger gives it with its clock at ``at``."""
    ledger = LedgerStore.open(shop.db_url, clock=lambda: at)
    try:
        return ledger.card_snapshot(ANNA)
    finally:
        ledger.close()


@pytest.fixture
def refunds(
    shop: LedgerServer, tmp_path: Path
) -> tuple[svc.Terminal, datetime, dict[str, datetime]]:
    """Till T1 (synced before) sold Anna, and returned:

    - ``old``: 300.00 430 days ago, returned 19 days ago, after it left the window (QA);
    - ``short``: 200.00 350 days ago, returned 50 days later (the mirror case);
    - ``split``: 400.00 + 200.00 100 days ago, the 200.00 returned 10 days ago;
    - ``big``: 520.00 20 days ago.

    Nothing pushed yet. Returns T1, now and the moment of each sale."""
    now = datetime.now(UTC)
    sold = {
        "old": (now - timedelta(days=430)).replace(microsecond=250_000),
        "short": (now - timedelta(days=350)).replace(microsecond=500_000),
        "split": (now - timedelta(days=100)).replace(microsecond=750_000),
        "big": (now - timedelta(days=20)).replace(microsecond=125_000),
    }
    t1 = till(shop, tmp_path / "t1", "T1")
    sync(t1)
    # in time order, as a till records them (an --at before the member's last event is refused)
    old = sell(t1, "300.00", sold["old"])
    short = sell(t1, "200.00", sold["short"])
    svc.refund(t1, short["receipt_id"], None, "1234", at=now - timedelta(days=300))
    lines = svc.resolve_items(t1, [], [("400.00", "household"), ("200.00", "grocery")])
    split = svc.checkout(t1, ANNA, lines, at=sold["split"])
    sell(t1, "520.00", sold["big"])
    svc.refund(t1, old["receipt_id"], None, "1234", at=now - timedelta(days=19))
    svc.refund(t1, split["receipt_id"], {"OPEN:grocery": 1}, "1234", at=now - timedelta(days=10))
    return t1, now, sold


def test_a_refund_counts_at_its_sales_moment_at_the_ledger_and_every_till(
    shop: LedgerServer, tmp_path: Path, refunds
) -> None:
    t1, now, sold = refunds
    # the till, before it pushes: 400.00 left of the split sale and the 520.00; the old sale's
    # return changes nothing (it was 620.00), the short sale and its return cancel out
    assert spend_minor(t1, now) == 92_000
    assert tier(t1, now) == "Sapphire"
    assert sync(t1)["pushed"] == 7

    snapshot = snapshot_at(shop, now)
    assert (snapshot["qualifying_spend_minor"], snapshot["tier"]) == (92_000, "Sapphire")
    # a sale and its refunds share a moment: the short sale adds up to nothing there
    assert snapshot["window_spend"] == [
        [sold["split"].isoformat(), 40_000],
        [sold["big"].isoformat(), 52_000],
    ]

    t2 = till(shop, tmp_path / "t2", "T2")
    sync(t2)
    sync(t1)
    us = timedelta(microseconds=1)
    short_leaves = sold["short"] + WINDOW
    moments = [
        now,
        short_leaves - us,
        short_leaves,  # the short sale and its return leave together: -200.00 before
        short_leaves + timedelta(days=30),
        sold["split"] + WINDOW - us,
        sold["split"] + WINDOW,
        now + WINDOW,
    ]
    for at in moments:
        expected = ledger_spend_minor(shop, at)
        assert spend_minor(t2, at) == spend_minor(t1, at) == expected, at
    assert [ledger_spend_minor(shop, at) for at in moments] == [
        92_000,
        92_000,
        92_000,
        92_000,
        92_000,
        52_000,
        0,
    ]


def test_a_ledger_upgraded_with_refunds_on_record_dates_them_at_their_sale(
    shop: LedgerServer, tmp_path: Path, refunds
) -> None:
    """Migration 0003 on a ledger whose refunds came before it: it finds each refund's sale and
    dates the refund's spend there, as a push does now."""
    from alembic import command
    from alembic.config import Config

    from loyalty_pos.ledger.db import MIGRATIONS, make_engine

    t1, now, _sold = refunds
    sync(t1)
    before = snapshot_at(shop, now)
    engine = make_engine(shop.db_url)
    try:
        with engine.begin() as conn:
            pushed = conn.execute(sa.text("SELECT gseq, spend_us FROM spend_moments ORDER BY gseq"))
            moments = [tuple(r) for r in pushed]
            assert len(moments) == 3  # one per refund
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")  # the ledger as the previous release left it
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            filled = conn.execute(sa.text("SELECT gseq, spend_us FROM spend_moments ORDER BY gseq"))
            assert [tuple(r) for r in filled] == moments
    finally:
        engine.dispose()
    assert snapshot_at(shop, now) == before
