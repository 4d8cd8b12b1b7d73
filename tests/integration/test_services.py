"""The service layer on a real SQLite file: scenarios as a cashier would tell them, refusals that
leave the journal untouched, verification, PIN lockout and imports."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_pos import checkout as svc
from loyalty_pos import printing
from loyalty_pos.bootstrap import open_terminal
from loyalty_pos.domain.errors import (
    AuthError,
    ConfigError,
    NotFound,
    RedeemRefused,
    Refused,
    StorageError,
)
from loyalty_pos.imports import import_catalog, import_members

from ..conftest import NOW
from ..support.zones import machine_zone

ANNA = "04A1B2C3D4E500"  # member M0001, born 1960-01-01
BEN = "LC00100037"  # member M0002
MILK_EAN = "4000011742186"  # MILK's in the demo catalog
BREAD_EAN = "4000011821379"  # BREAD's


def journal(t: svc.Terminal) -> list[dict]:
    return list(t.store.events())


def state(t: svc.Terminal) -> tuple:
    rows = t.store.query("SELECT member_id, lots, debt FROM members ORDER BY member_id")
    return (
        [e["hash"] for e in journal(t)],
        [tuple(r) for r in rows],
        [tuple(r) for r in t.store.query("SELECT receipt_id, receipt FROM journal")],
        [tuple(r) for r in t.store.query("SELECT * FROM receipt_prints")],
    )


def buy(t: svc.Terminal, card: str | None, *items: str, redeem=None, at: datetime | None = None):
    lines = svc.resolve_items(
        t, [(i.split(":")[0], int(i.split(":")[1]) if ":" in i else 1) for i in items]
    )
    return svc.checkout(t, card, lines, redeem, at)


def test_a_member_spends_sixty_and_gets_the_threshold_bonus(demo) -> None:
    r = buy(demo, ANNA, "BOOK-COOK", "BOOK-NOVEL", "SHOWERGEL", "EGGS", "BREAD", "BANANAS", "PASTA")
    assert r["total"] == "51.36"
    assert all(b["rule"] != "promo:spend60" for b in r["breakdown"])
    r = buy(demo, ANNA, "FACECREAM", "BOOK-COOK", "BOOK-NOVEL")  # 60.85
    assert {b["rule"] for b in r["breakdown"]} >= {"base", "promo:spend60", "promo:books-cashback"}
    assert r["receipt_id"] == "DEMO1-000002"
    assert svc.balance(demo, ANNA)["balance"] == r["balance"]


def test_checkout_event_receipt_and_lots_are_written_together(demo) -> None:
    r = buy(demo, ANNA, "MASCARA")
    event = demo.store.event_by_receipt(r["receipt_id"])
    assert event["type"] == "checkout" and event["points_earned"] == r["points_earned"]
    assert demo.store.receipt(r["receipt_id"]) is not None
    assert svc.balance(demo, ANNA)["balance"] == r["points_earned"]


def test_sale_without_a_member_is_recorded_for_engagement(demo) -> None:
    r = buy(demo, None, "MILK:2")
    assert r["member_id"] is None and r["points_earned"] == 0
    assert journal(demo)[-1]["member_id"] is None


def test_punch_card_sixth_coffee_is_free_across_visits(demo) -> None:
    for _ in range(5):
        assert buy(demo, BEN, "COFFEE")["discount"] == "0.00"
    assert buy(demo, BEN, "COFFEE")["due"] == "0.00"
    assert buy(demo, BEN, "COFFEE")["due"] == "2.40"


def test_the_punch_card_shows_on_the_balance_and_the_receipts_as_it_stands(demo) -> None:
    """Ben's coffee card (the 6th free) in ``balance``, on the sale's receipt after the sale and
    on the refund's; a receipt of a sale without coffee does not advertise an empty card."""

    def card(t: svc.Terminal) -> tuple[int, int, str]:
        (coffee,) = svc.balance(t, BEN)["punch_cards"]
        assert (coffee["promotion"], coffee["sku"], coffee["every"]) == ("coffee-card", "COFFEE", 6)
        return coffee["punches"], coffee["to_free"], coffee["progress"]

    assert card(demo) == (0, 5, "0 of 5, free after 5 more")
    assert "Coffee card" not in printing.receipt_text(demo, buy(demo, BEN, "MILK")["receipt_id"])
    sale = buy(demo, BEN, "COFFEE:3", "MILK")
    assert card(demo) == (3, 2, "3 of 5, free after 2 more")
    text = printing.receipt_text(demo, sale["receipt_id"], 42)
    assert "Coffee card: 6th free\n  3 of 5, free after 2 more\n" in text
    # a later sale without coffee still shows the punches on the card
    assert "3 of 5, free after 2 more" in printing.receipt_text(
        demo, buy(demo, BEN, "MILK")["receipt_id"]
    )
    assert buy(demo, BEN, "COFFEE:2")["discount"] == "0.00"
    assert card(demo) == (5, 0, "next one free")
    back = svc.refund(demo, sale["receipt_id"], {"COFFEE": 3}, "1234")
    assert card(demo) == (2, 3, "2 of 5, free after 3 more")
    assert "2 of 5, free after 3 more" in printing.receipt_text(demo, back["receipt_id"], 42)


def test_checkout_json_has_the_punch_cards_as_the_sale_leaves_them(
    demo, capsys: pytest.CaptureFixture[str]
) -> None:
    """`checkout --json` had no punch cards while `balance --json` had them: the checkout gives
    its receipt's cards (those of its items, and any with punches on them) in balance's shape."""
    from loyalty_pos.cli import main

    at = ["--home", str(demo.home), "--at", NOW.isoformat(), "--json"]
    assert main(["checkout", *at, "--card", BEN, "--item", "COFFEE:3", "--item", "MILK"]) == 0
    sale = json.loads(capsys.readouterr().out)
    assert sale["punch_cards"] == svc.balance(demo, BEN)["punch_cards"]
    (coffee,) = sale["punch_cards"]
    assert (coffee["sku"], coffee["punches"], coffee["progress"]) == (
        "COFFEE",
        3,
        "3 of 5, free after 2 more",
    )
    assert demo.store.receipt(sale["receipt_id"])[1]["punch_cards"] == sale["punch_cards"]
    assert {"receipt_id", "balance", "tier", "offline", "points_earned"} <= set(sale)
    assert buy(demo, BEN, "MILK")["punch_cards"] == sale["punch_cards"]  # punches on it
    assert buy(demo, ANNA, "MILK")["punch_cards"] == []  # an empty card is not advertised
    assert buy(demo, None, "COFFEE")["punch_cards"] == []  # no member, no card


def test_returning_the_coffees_that_earned_a_free_one_does_not_earn_it_twice(demo) -> None:
    """Buy 5, the 6th free, return the 5: the next 5 are paid, the 12th coffee is free."""
    five = buy(demo, BEN, "COFFEE:5")
    assert buy(demo, BEN, "COFFEE")["due"] == "0.00"
    back = svc.refund(demo, five["receipt_id"], None, "1234")
    assert back["refunded"] == "12.00"
    assert journal(demo)[-1]["punch_delta"] == {"COFFEE": -5}
    assert buy(demo, BEN, "COFFEE:5")["discount"] == "0.00"
    assert buy(demo, BEN, "COFFEE:6")["discount"] == "2.40"
    assert svc.verify(demo)["ok"]


def test_birthday_bonus_once_in_the_window(demo) -> None:
    birthday = datetime(2026, 12, 30, 12, tzinfo=NOW.tzinfo)  # Anna: 1 January
    first = buy(demo, ANNA, "MILK", at=birthday)
    assert {"rule": "promo:birthday", "points": 500} in first["breakdown"]
    second = buy(demo, ANNA, "MILK", at=birthday + timedelta(days=1))
    assert all(b["rule"] != "promo:birthday" for b in second["breakdown"])


def test_a_birthday_sale_returned_in_full_gives_the_bonus_back_to_earn_again(demo) -> None:
    birthday = datetime(2026, 12, 30, 12, tzinfo=NOW.tzinfo)  # Anna: 1 January
    first = buy(demo, ANNA, "MILK", at=birthday)
    assert {"rule": "promo:birthday", "points": 500} in first["breakdown"]
    returned = svc.refund(demo, first["receipt_id"], None, "1234", at=birthday + timedelta(hours=1))
    assert returned["fully_refunded"] and returned["balance"] == 0
    assert journal(demo)[-1]["birthday_bonus_returned"] == "2026-12-30"
    again = buy(demo, ANNA, "MILK", at=birthday + timedelta(hours=2))  # the exchanged purchase
    assert {"rule": "promo:birthday", "points": 500} in again["breakdown"]
    once_more = buy(demo, ANNA, "MILK", at=birthday + timedelta(hours=3))
    assert all(b["rule"] != "promo:birthday" for b in once_more["breakdown"])
    assert svc.verify(demo)["ok"]


def test_a_birthday_sale_returned_in_part_keeps_the_bonus_used(demo) -> None:
    birthday = datetime(2026, 12, 30, 12, tzinfo=NOW.tzinfo)
    first = buy(demo, ANNA, "MILK:2", at=birthday)
    svc.refund(demo, first["receipt_id"], {"MILK": 1}, "1234", at=birthday + timedelta(hours=1))
    assert "birthday_bonus_returned" not in journal(demo)[-1]
    again = buy(demo, ANNA, "MILK", at=birthday + timedelta(hours=2))
    assert all(b["rule"] != "promo:birthday" for b in again["breakdown"])


def test_cashback_points_expire_after_sixty_days(demo) -> None:
    buy(demo, BEN, "BOOK-NOVEL")  # 14.00 -> 14 base + 140 cashback
    assert svc.balance(demo, BEN)["balance"] == 154
    later = NOW + timedelta(days=61)
    assert svc.balance(demo, BEN, at=later)["balance"] == 14


def test_tiers_by_yearly_spend_in_a_rolling_window(demo) -> None:
    start = NOW - timedelta(days=300)
    for i in range(11):
        buy(demo, BEN, "GIFT50", at=start + timedelta(days=i))  # 550.00 of gift cards: excluded
    assert svc.balance(demo, BEN)["tier"] == "Sapphire"
    assert svc.balance(demo, BEN, at=start + timedelta(days=366))["tier"] == "Malachite"


@pytest.mark.parametrize(
    "attempt",
    [
        lambda t: buy(t, "NOSUCHCARD", "MILK"),
        lambda t: buy(t, ANNA, "NOSUCHSKU"),
        lambda t: buy(t, ANNA, "MILK", redeem=100),  # balance 0
        lambda t: buy(t, ANNA, "MILK", redeem="lots"),
        lambda t: svc.checkout(t, ANNA, []),
        lambda t: svc.resolve_items(t, [("MILK", 1)], [("-2.00", "grocery")]),
        lambda t: svc.refund(t, "DEMO1-999999", None, "1234"),
        lambda t: svc.refund(t, "DEMO1-000001", {"MILK": 5}, "1234"),
        lambda t: svc.adjust(t, ANNA, 50, "goodwill", "0000"),
        lambda t: svc.enroll(t, ANNA, "Dup"),
        lambda t: svc.enroll(t, "LC00999999", "Zoe\x1bp\x00\x19"),  # a printer command
        # a birthday the ledger would not take, or no one has
        lambda t: svc.enroll(t, "LC00999999", "Zoe", birthday="20000101"),
        lambda t: svc.enroll(t, "LC00999999", "Zoe", birthday="2000-W01-1"),
        lambda t: svc.enroll(t, "LC00999999", "Zoe", birthday="2099-01-01"),
        lambda t: svc.enroll(t, "LC00999999", "Zoe", birthday="1850-01-01"),
        lambda t: svc.adjust(t, ANNA, 5, "goodwill\nsecond line", "1234"),
        lambda t: svc.adjust(t, ANNA, 5, "\u200b \u2060", "1234"),  # nothing visible
        lambda t: svc.adjust(t, ANNA, 5, "bonus \u202egnorw", "1234"),  # shows as "bonus wrong"
        lambda t: svc.resolve_items(t, [], [("2.00", "gro\tcery")]),
    ],
)
def test_a_refusal_leaves_journal_lots_and_receipts_exactly_as_they_were(demo, attempt) -> None:
    buy(demo, ANNA, "MILK:2")
    before = state(demo)
    with pytest.raises(Refused):
        attempt(demo)
    assert state(demo) == before


@pytest.mark.parametrize(
    ("card", "said"),
    [
        ("MILK", "MILK is an item in the catalog, not a card."),
        (MILK_EAN, f"{MILK_EAN} is an item in the catalog, not a card."),
        ("DEMO1-000001", "DEMO1-000001 is a receipt id, not a card."),
        (
            "foo",
            "'foo' is not a card number this terminal can read: check the number, or scan the "
            "card (the card numbers it takes are set by card_pattern in terminal.toml).",
        ),
        ("04a1b2c3d4e5f", "'04A1B2C3D4E5F' is not a card number this terminal can read"),
    ],
)
@pytest.mark.parametrize(
    "give",
    [
        lambda t, card: svc.enroll(t, card, "Zoe"),
        lambda t, card: svc.link_card(t, card, "M0001", "1234"),
        lambda t, card: svc.replace_lost_card(t, ANNA, card, "1234"),
    ],
    ids=["enroll", "link", "replace"],
)
def test_a_card_the_terminal_could_never_read_as_a_card_is_refused(
    demo, give, card: str, said: str
) -> None:
    before = state(demo)
    with pytest.raises(Refused) as e:
        give(demo, card)
    assert str(e.value).startswith(said)
    assert state(demo) == before and demo.store.card(card) is None
    assert demo.store.card(ANNA)["card_status"] == "active"


def test_a_refund_receipt_scanned_for_a_refund_names_the_sale(demo) -> None:
    sale = buy(demo, ANNA, "MILK:2")["receipt_id"]
    refund = svc.refund(demo, sale, {"MILK": 1}, "1234")["receipt_id"]
    before = state(demo)
    for attempt in (
        lambda: svc.refund(demo, refund, None, "1234"),
        lambda: svc.refundable_lines(demo, refund),
    ):
        with pytest.raises(
            NotFound, match=f"{refund} is a refund, not a sale: refund the sale {sale}"
        ):
            attempt()
    assert state(demo) == before


def test_redeeming_more_than_allowed_names_the_limit(demo) -> None:
    buy(demo, ANNA, "BOOK-COOK", "BOOK-TRAVEL", "FACECREAM")  # earns > 5000 points
    with pytest.raises(RedeemRefused) as e:
        buy(demo, ANNA, "MILK", redeem=100)
    assert e.value.limit == "min_cash"
    with pytest.raises(RedeemRefused) as e:  # over the balance too: min_cash caps it first
        buy(demo, ANNA, "OLIVEOIL", redeem=999_999)
    assert e.value.limit == "min_cash"
    with pytest.raises(RedeemRefused) as e:
        buy(demo, ANNA, "BOOK-COOK", "BOOK-TRAVEL", "FACECREAM", redeem=999_999)
    assert e.value.limit == "balance"


def test_blocked_card_is_refused_and_the_new_card_carries_the_balance(demo) -> None:
    earned = buy(demo, ANNA, "MASCARA")["points_earned"]
    svc.block_card(demo, ANNA, "1234")
    with pytest.raises(Refused, match="blocked"):
        buy(demo, ANNA, "MILK")
    svc.link_card(demo, "04FFEEDDCCBBAA", "M0001", "1234")
    assert svc.balance(demo, "04FFEEDDCCBBAA")["balance"] == earned


def test_frozen_member_is_refused(demo) -> None:
    demo.store.conn.execute("UPDATE members SET status = 'frozen' WHERE member_id = 'M0001'")
    with pytest.raises(Refused, match="frozen"):
        buy(demo, ANNA, "MILK")


def test_five_wrong_pins_lock_manager_actions_for_fifteen_minutes(demo) -> None:
    buy(demo, ANNA, "MILK")
    for _ in range(5):
        with pytest.raises(AuthError, match="Wrong manager PIN"):
            svc.adjust(demo, ANNA, 10, "test", "9999")
    with pytest.raises(AuthError, match="locked"):
        svc.adjust(demo, ANNA, 10, "test", "1234")
    demo.clock = lambda: NOW + timedelta(minutes=16)
    assert svc.adjust(demo, ANNA, 10, "test", "1234")["points"] == 10


def test_the_lockout_names_the_first_minute_the_pin_is_taken_again(demo) -> None:
    """Locked at 14:00:30 for 15 minutes, it is said "until 14:16" (in the till's time):
    "until 14:15" read at 14:15 was still refused (QA)."""
    demo.clock = lambda: NOW + timedelta(seconds=30)
    for _ in range(5):
        with pytest.raises(AuthError, match="Wrong manager PIN"):
            svc.adjust(demo, ANNA, 10, "test", "9999")
    demo.clock = lambda: NOW + timedelta(minutes=15, seconds=10)
    said = f"{(NOW + timedelta(minutes=16)).astimezone(demo.now().tzinfo):%H:%M}"  # the till's
    with pytest.raises(AuthError, match=rf"locked after 5 wrong PINs until {said}\.$"):
        svc.adjust(demo, ANNA, 10, "test", "1234")
    demo.clock = lambda: NOW + timedelta(minutes=15, seconds=30)
    assert svc.adjust(demo, ANNA, 10, "test", "1234")["points"] == 10


def test_the_pin_lockout_runs_on_the_clock_not_on_an_operation_s_time(demo) -> None:
    """Wrong PINs given with a time years ahead lock manager actions for 15 minutes of the
    clock, not until then; and a time past the lock gives no more tries."""
    far = NOW + timedelta(days=365 * 900)
    for _ in range(5):
        with pytest.raises(AuthError, match="Wrong manager PIN"):
            svc.adjust(demo, ANNA, 10, "test", "9999", at=far)
    for at in (None, far + timedelta(days=1)):
        with pytest.raises(AuthError, match="locked"):
            svc.adjust(demo, ANNA, 10, "test", "1234", at=at)
    demo.clock = lambda: NOW + timedelta(minutes=16)
    assert svc.adjust(demo, ANNA, 10, "test", "1234")["points"] == 10


def test_a_forgotten_pin_is_asked_for_and_uses_up_no_try(demo) -> None:
    for missing in (None, "", None, "", None, ""):
        with pytest.raises(AuthError, match=r"^This needs the manager PIN \(--manager-pin\)\.$"):
            svc.adjust(demo, ANNA, 10, "test", missing)
    for left in ("4 tries", "3 tries", "2 tries", "1 try"):
        with pytest.raises(AuthError, match=f"^Wrong manager PIN. {left} left.$"):
            svc.adjust(demo, ANNA, 10, "test", "9999")
    assert svc.adjust(demo, ANNA, 10, "test", "1234")["points"] == 10  # not locked


def test_what_cannot_be_a_pin_is_refused_without_using_up_a_try(demo) -> None:
    """Letters, or more digits than a PIN has: a code scanned or pasted into the PIN, not a
    guess. Refused each time, and the wrong PINs after it still have all their tries."""
    for code in ("DEMO1-000001", "4006381333931", "LC00100037", "12a4") * 2:
        with pytest.raises(AuthError, match="^That is not a manager PIN") as e:
            svc.adjust(demo, ANNA, 10, "test", code)
        assert e.value.details["reason"] == "not_a_pin"
    with pytest.raises(AuthError, match="^Wrong manager PIN. 4 tries left.$"):
        svc.adjust(demo, ANNA, 10, "test", "9999")
    assert svc.adjust(demo, ANNA, 10, "test", "1234")["points"] == 10


def test_adjust_clawback_can_go_negative_and_negative_balance_cannot_be_spent(demo) -> None:
    svc.adjust(demo, ANNA, -30, "clawback of a mistaken bonus", "1234")
    assert svc.balance(demo, ANNA)["balance"] == -30
    with pytest.raises(RedeemRefused) as e:
        buy(demo, ANNA, "OLIVEOIL", redeem=10)
    assert e.value.limit == "negative_balance"


def test_verify_detects_a_tampered_journal_and_a_tampered_balance(demo, tmp_path: Path) -> None:
    buy(demo, ANNA, "MASCARA")
    buy(demo, BEN, "BOOK-KIDS")
    assert svc.verify(demo)["ok"]
    demo.store.conn.execute(
        "UPDATE members SET lots = json_set(lots, '$[0].points', "
        "json_extract(lots, '$[0].points') + 100) WHERE member_id = 'M0001'"
    )
    result = svc.verify(demo)
    assert not result["ok"] and "M0001" in result["problems"][0]
    conn = sqlite3.connect(demo.home / "terminal.db")
    conn.execute("DROP TRIGGER journal_no_update")
    body = json.loads(conn.execute("SELECT body FROM journal WHERE seq = 1").fetchone()[0])
    body["points_earned"] += 1
    conn.execute("UPDATE journal SET body = ? WHERE seq = 1", (json.dumps(body),))
    conn.commit()
    assert any("hash does not match" in p for p in svc.verify(demo)["problems"])


def test_verify_names_acknowledgements_and_prints_of_events_missing_from_the_journal(
    demo,
) -> None:
    """Events gone from the journal's end that the ledger had acknowledged, or whose receipts
    were printed, are named by those records too: the sync's cursor past the journal's end
    would otherwise skip the seqs the next sales take."""
    buy(demo, None, "MILK")
    buy(demo, None, "BREAD")
    with demo.store.transaction():
        demo.store.ack(1, "accepted", None, NOW)
        demo.store.ack(2, "accepted", None, NOW)
    demo.store.mark_printed(f"{demo.config.terminal_id}-000002", NOW, None)
    conn = sqlite3.connect(demo.home / "terminal.db")  # as the sqlite3 shell: no foreign keys
    conn.execute("DROP TRIGGER journal_no_delete")
    conn.execute("DELETE FROM journal WHERE seq = 2")
    conn.commit()
    conn.close()
    assert svc.verify(demo)["problems"] == [
        "the ledger acknowledged this terminal's events up to seq 2, past the journal's end at "
        "seq 1: seq 2 is missing from its end",
        "seq 2: its receipt's print is recorded, but the event is missing from the journal",
    ]


def test_verify_names_a_journal_row_damaged_beyond_reading_and_checks_the_chain_past_it(
    demo,
) -> None:
    """A row whose text is no longer JSON (an edit, a damaged disk) made verify an internal
    error, so the check meant to find the damage named nothing."""
    buy(demo, ANNA, "MASCARA")
    buy(demo, BEN, "BOOK-KIDS")
    buy(demo, ANNA, "MILK")
    conn = sqlite3.connect(demo.home / "terminal.db")
    conn.execute("DROP TRIGGER journal_no_update")
    conn.execute("UPDATE journal SET body = substr(body, 1, 40) WHERE seq = 2")
    conn.commit()
    conn.close()
    result = svc.verify(demo)
    assert result["events"] == 3 and not result["ok"]
    # the damaged row, and its member's points, which can no longer be replayed; the chain on
    # either side of it is sound
    assert result["problems"][0] == "seq 2: the event's text is damaged (it is not an event's JSON)"
    assert not any("hash" in p or "seq 3" in p for p in result["problems"])
    assert any("M0002" in p for p in result["problems"])
    with pytest.raises(StorageError, match="event at seq 2 .* is damaged"):
        svc.refundable_lines(demo, f"{demo.config.terminal_id}-000002")


def test_verify_names_a_member_of_the_journal_missing_from_the_cache(demo) -> None:
    """QA: a member row deleted from the cache by hand (with their 5,000 points) passed verify,
    which compared only the members still there: the nightly job then pruned the backups
    that still held the member."""
    svc.adjust(demo, ANNA, 5000, "welcome gift", "1234")
    buy(demo, BEN, "MILK")
    assert svc.verify(demo)["ok"]
    conn = sqlite3.connect(demo.home / "terminal.db")  # as the sqlite3 shell: no foreign keys
    conn.execute("DELETE FROM members WHERE member_id = 'M0001'")
    conn.commit()
    conn.close()
    result = svc.verify(demo)
    assert not result["ok"]
    assert result["problems"] == [
        "member M0001: has 1 event in the journal but is missing from the cache"
    ]


def test_verify_names_a_member_whose_cached_points_are_damaged(demo) -> None:
    """QA: a member's cached lots or punch cards that are no longer JSON (an edit by hand, a
    damaged disk) made verify an internal error, and a balance too, instead of naming them."""
    svc.adjust(demo, ANNA, 500, "welcome gift", "1234")
    buy(demo, BEN, "COFFEE")
    demo.store.conn.execute("UPDATE members SET lots = 'x' WHERE member_id = 'M0001'")
    demo.store.conn.execute("UPDATE members SET punch = '{' WHERE member_id = 'M0002'")
    demo.store.conn.execute(
        "UPDATE members SET base_lots = '[{\"points\": \"many\"}]' WHERE member_id = 'M0003'"
    )
    result = svc.verify(demo)
    assert not result["ok"]
    assert result["problems"] == [
        "member M0001: the cached points (lots) are not readable",
        "member M0002: the cached punch cards (punch) are not readable",
        "member M0003: the cached points (base_lots) are not readable",
    ]
    with pytest.raises(StorageError, match=r"member M0001's cached points \(lots\) are not read"):
        svc.balance(demo, ANNA)
    with pytest.raises(StorageError, match=r"M0002's cached punch cards \(punch\) are not read"):
        buy(demo, BEN, "MILK")


def test_verify_says_when_cached_points_differ_only_in_their_dates(demo) -> None:
    """QA: points cached under other dates than the replay's (a cache an earlier release
    computed) were said as "cached points (100 - 0) differ from the journal replay (100 - 0)",
    nothing to compare."""
    svc.adjust(demo, ANNA, 100, "welcome gift", "1234")
    (lot,) = svc.balance(demo, ANNA)["expiring"]
    demo.store.conn.execute(
        "UPDATE members SET lots = json_set(lots, '$[0].expires_at', '2030-01-31') "
        "WHERE member_id = 'M0001'"
    )
    result = svc.verify(demo)
    assert result["problems"] == [
        "member M0001: cached points (100 - 0) are dated otherwise than the journal replay's "
        f"(expiring 100 on 2030-01-31 cached, 100 on {lot['expires_at']} replayed)"
    ]


def test_verify_replays_the_punch_cards_as_it_replays_the_points(demo) -> None:
    """QA: a punch counter edited in the cache passed verify, where edited points did not."""
    sale = buy(demo, BEN, "COFFEE:4")
    buy(demo, BEN, "COFFEE:3")  # the sixth free, one punch on
    svc.refund(demo, sale["receipt_id"], {"COFFEE": 2}, "1234")  # punches taken off
    assert svc.verify(demo)["ok"]
    demo.store.conn.execute(
        "UPDATE members SET punch = json_set(punch, '$.COFFEE', "
        "json_extract(punch, '$.COFFEE') + 1) WHERE member_id = 'M0002'"
    )
    result = svc.verify(demo)
    assert not result["ok"]
    assert result["problems"] == [
        f"member M0002: cached punch cards {demo.store.member('M0002')['punch']} differ from "
        'the journal replay {"COFFEE": -1}'
    ]


def test_every_kind_of_event_is_kept_in_the_domain_s_canonical_text(demo) -> None:
    """The journal is written with orjson (``loyalty_pos.canonical``): each kept body is the
    text the domain's standard-library definition gives, and holds nothing that encoder would
    write otherwise (floats) or refuse (UUID or enum objects)."""
    from loyalty_pos.domain.events import canonical_text

    svc.enroll(demo, "04C0FFEE000001", name="Zoë Ünal", email="z@example.org")
    sale = buy(demo, ANNA, "MASCARA", "MILK:3")
    buy(demo, ANNA, "BOOK-NOVEL", redeem="max")
    buy(demo, None, "BREAD")
    svc.refund(demo, sale["receipt_id"], {"MILK": 1}, "1234")
    svc.adjust(demo, BEN, -5, "goodwill \u2014 returned voucher", "1234")
    svc.replace_lost_card(demo, BEN, "LC00100099", "1234")
    rows = demo.store.query("SELECT type, body FROM journal ORDER BY seq")
    assert {r["type"] for r in rows} >= {
        "enroll",
        "checkout",
        "refund",
        "adjust",
        "card_block",
        "card_link",
    }

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(type(k) is str and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, bool)

    for row in rows:
        body = json.loads(row["body"])
        assert plain(body), row["type"]
        assert row["body"] == canonical_text(body)
    assert svc.verify(demo)["ok"]


def test_two_programs_appending_to_one_cache_keep_one_chain(demo) -> None:
    """The app and a CLI call write the same cache: each takes the chain's head the other left
    (a connection keeps the head it appended only while nobody else has written)."""
    other = open_terminal(demo.home)
    other.clock = demo.clock
    try:
        receipts = [
            buy(demo, ANNA, "MILK")["receipt_id"],
            buy(other, BEN, "MILK")["receipt_id"],
            buy(other, None, "BREAD")["receipt_id"],
            buy(demo, ANNA, "EGGS")["receipt_id"],
            buy(other, ANNA, "EGGS")["receipt_id"],
        ]
    finally:
        other.store.close()
    assert receipts == [f"DEMO1-{seq:06d}" for seq in range(1, 6)]
    assert [e["seq"] for e in journal(demo)] == [1, 2, 3, 4, 5]
    assert svc.verify(demo)["ok"]


def test_an_event_rolled_back_is_not_taken_for_the_chain_s_head(demo) -> None:
    buy(demo, ANNA, "MILK")
    with pytest.raises(RuntimeError), demo.store.transaction():
        demo.store.append("DEMO1", {"type": "adjust", "occurred_at": NOW.isoformat()})
        raise RuntimeError("the printer caught fire")
    assert buy(demo, ANNA, "EGGS")["receipt_id"] == "DEMO1-000002"
    assert svc.verify(demo)["ok"]


def test_a_report_counts_the_periods_events_the_ledger_holds_back_now(demo) -> None:
    from loyalty_pos.reports import day_report

    yesterday = NOW - timedelta(days=1)
    first = buy(demo, ANNA, "MILK", at=yesterday)["receipt_id"]
    second = buy(demo, BEN, "MILK")["receipt_id"]
    seq = {e["receipt_id"]: e["seq"] for e in journal(demo)}
    for receipt in (first, second):  # as a sync records the ledger's refusal
        demo.store.ack(seq[receipt], "rejected", "conflict: the card belongs to another", NOW)

    def held(start, end=None) -> int:
        return day_report(demo, start, end)["rejected_events"]

    assert (held(yesterday.date()), held(NOW.date())) == (1, 1)
    assert held(yesterday.date(), NOW.date()) == 2
    demo.store.ack(seq[first], "accepted", None, NOW)  # taken after all: no longer held
    assert (held(yesterday.date()), held(NOW.date())) == (0, 1)


def test_the_journal_refuses_updates_and_deletes(demo) -> None:
    buy(demo, ANNA, "MILK")
    with pytest.raises(sqlite3.IntegrityError):
        demo.store.conn.execute("DELETE FROM journal")
    with pytest.raises(sqlite3.IntegrityError):
        demo.store.conn.execute("UPDATE journal SET type = 'x'")


def test_member_import_is_all_or_nothing_and_names_the_lines(demo, tmp_path: Path) -> None:
    bad = tmp_path / "members.csv"
    bad.write_text(
        "member_id,card,name,birthday,email\nN1,LC0099000001,Ok,,\nN2,LC0099000002,Bad,1990-13-01,\n"
        "N3,,No card,,x\n"
    )
    with pytest.raises(ConfigError) as e:
        import_members(demo, bad)
    assert [p.split(":")[0] for p in e.value.problems] == ["line 3", "line 4", "line 4"]
    assert demo.store.member("N1") is None


def test_an_email_without_a_dot_in_its_domain_is_refused_and_nothing_recorded(
    demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: `loyalty-pos enroll --email zoe@example` enrolled Zoe; the app's F4, the CLI and a
    members file refuse it on one rule, saying what is wrong, and record nothing."""
    from loyalty_pos.cli import main

    before = state(demo)
    with pytest.raises(Refused, match=r"^Email 'zoe@example' is not an email address: its domain"):
        svc.enroll(demo, "LC77770009", name="Zoe", email="zoe@example")
    assert svc.enrolment_email_problem(" zoe@example ") == (
        "Email 'zoe@example' is not an email address: its domain 'example' has no dot "
        "(name@example.org)."
    )
    assert svc.enrolment_email_problem("") is None  # none given: fine
    home = ["--home", str(demo.home)]
    code = main(["enroll", *home, "--card", "LC77770009", "--email", "zoe@example", "--json"])
    out, err = capsys.readouterr()
    assert (code, out, json.loads(err)["error"]) == (2, "", "refused")
    assert "no dot" in json.loads(err)["message"]
    assert state(demo) == before and demo.store.card("LC77770009") is None
    members = tmp_path / "members.csv"
    members.write_text("member_id,card,name,birthday,email\nZ1,LC77770009,Zoe,,zoe@example\n")
    with pytest.raises(ConfigError) as e:
        import_members(demo, members)
    assert e.value.problems == [
        "line 2: email 'zoe@example' is not an email address: its domain 'example' has no dot "
        "(name@example.org)"
    ]
    assert state(demo) == before
    assert main(["enroll", *home, "--card", "LC77770009", "--email", "zoe@example.com"]) == 0


def test_a_member_may_have_a_row_per_card_but_the_rows_must_agree(demo, tmp_path: Path) -> None:
    two_cards = tmp_path / "two-cards.csv"
    two_cards.write_text(
        "member_id,card,name,birthday,email\n"
        "N1,LC0099000001,Nina,1990-01-02,n@x.org\nN1,LC0099000002,Nina,1990-01-02,n@x.org\n"
    )
    assert import_members(demo, two_cards) == {"imported": 2}
    assert sorted(c["card"] for c in demo.store.cards_of("N1")) == ["LC0099000001", "LC0099000002"]

    disagree = tmp_path / "disagree.csv"
    disagree.write_text(
        "member_id,card,name,birthday,email\n"
        "N2,LC0099000003,Noor,,\nN2,LC0099000004,Nils,,nils@x.org\n"
    )
    with pytest.raises(ConfigError) as e:
        import_members(demo, disagree)
    assert e.value.problems == ["line 3: member N2 is also on line 2 with another name and email"]
    assert demo.store.member("N2") is None and demo.store.card("LC0099000003") is None


def test_catalog_import_checks_ean_digits_and_prices(demo, tmp_path: Path) -> None:
    bad = tmp_path / "catalog.csv"
    bad.write_text(
        "sku,ean,name,price,category\nA,4006381333932,A,1.00,x\nB,,B,abc,x\nC,,C,1.001,x\n"
    )
    with pytest.raises(ConfigError) as e:
        import_catalog(demo, bad)
    assert len(e.value.problems) == 3
    assert demo.store.item("A") is None


def test_a_catalog_with_its_columns_in_another_order_is_read_by_their_names(
    demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the members file (the ledger took a members file in any order, the till only in the
    order of its example): the header names the columns."""
    from loyalty_pos.cli import main

    moved = tmp_path / "catalog.csv"
    moved.write_text("name,price,sku,category,ean\nGreen tea,2.49,TEA,grocery,5901234123457\n")
    assert main(["--home", str(demo.home), "catalog", "import", str(moved)]) == 0, (
        capsys.readouterr()
    )
    tea = demo.store.item("TEA")
    assert tea is not None
    assert (tea["name"], tea["price_minor"], tea["ean"]) == ("Green tea", 249, "5901234123457")


def test_a_catalog_category_a_letter_off_one_the_program_excludes_is_refused(
    demo, tmp_path: Path
) -> None:
    """`tobaco` would earn the points `tobacco` excludes on every sale: the import names the
    line and the program's spelling; a new category far from the program's is taken."""
    typo = tmp_path / "catalog.csv"
    typo.write_text(
        "sku,ean,name,price,category\nCIGS,,Cigarettes,8.00,tobaco\n"
        "NOVEL2,,Novel,9.00,Books\nSEEDS,,Seeds,2.00,garden\n"
    )
    before = state(demo)
    with pytest.raises(ConfigError) as e:
        import_catalog(demo, typo)
    assert [p.split(":")[0] for p in e.value.problems] == ["line 2", "line 3"]
    assert "'tobacco'" in e.value.problems[0] and "'books'" in e.value.problems[1]
    assert state(demo) == before and demo.store.item("SEEDS") is None
    typo.write_text("sku,ean,name,price,category\nSEEDS,,Seeds,2.00,seeds\n")
    assert import_catalog(demo, typo) == {"imported": 1}


def test_an_ean_of_a_sku_the_file_leaves_alone_is_refused_naming_the_line(
    demo, tmp_path: Path
) -> None:
    taken = tmp_path / "catalog.csv"
    taken.write_text(
        f"sku,ean,name,price,category\nOAT,,Oat milk,1.99,x\nSOY,{MILK_EAN},Soy,1.49,x\n"
    )
    before = state(demo)
    with pytest.raises(ConfigError) as e:
        import_catalog(demo, taken)
    assert e.value.problems == [
        f"line 3: ean {MILK_EAN} already belongs to sku MILK in the catalog"
    ]
    assert demo.store.item("OAT") is None and demo.store.item(MILK_EAN)["sku"] == "MILK"
    assert state(demo) == before


def test_eans_may_change_hands_among_the_skus_of_one_file(demo, tmp_path: Path) -> None:
    moved = tmp_path / "catalog.csv"
    moved.write_text(  # BREAD takes MILK's EAN before MILK's row gives it up; SOY takes BREAD's
        "sku,ean,name,price,category\n"
        f"BREAD,{MILK_EAN},Bread,3.49,grocery\nMILK,,Milk,1.19,grocery\n"
        f"SOY,{BREAD_EAN},Soy,1.49,grocery\n"
    )
    assert import_catalog(demo, moved) == {"imported": 3}
    assert demo.store.item(MILK_EAN)["sku"] == "BREAD"
    assert demo.store.item(BREAD_EAN)["sku"] == "SOY"
    assert demo.store.item("MILK")["ean"] is None


@pytest.mark.parametrize(
    ("sku", "said"),
    [
        ("TEA:2", "holds ':', which the checkout's --item SKU:QTY reads as the quantity"),
        ("OPEN:grocery", "starts with OPEN:, which marks a free-amount line"),
        ("T1-000001", "looks like a receipt id (a scan of it would open a refund)"),
        (ANNA, "is a member's card here (a scan of it would add the item, not the member)"),
        ("3*A", "starts with '3*', which the checkout app reads as a quantity (3*COFFEE is 3 of COFFEE)"),
        ("12 * B", "starts with '12 *', which the checkout app reads as a quantity (3*COFFEE is 3 of COFFEE)"),
        ("٣*C", "starts with '٣*', which the checkout app reads as a quantity (3*COFFEE is 3 of COFFEE)"),
    ],
)  # fmt: skip
def test_a_sku_the_checkout_could_never_sell_is_refused_naming_the_line(
    demo, tmp_path: Path, sku: str, said: str
) -> None:
    bad = tmp_path / "catalog.csv"
    bad.write_text(f"sku,ean,name,price,category\nOK,,Ok,1.00,x\n{sku},,Odd,1.00,x\n")
    with pytest.raises(ConfigError) as e:
        import_catalog(demo, bad)
    assert e.value.problems == [f"line 3: sku {sku} {said}"]
    assert demo.store.item("OK") is None and demo.store.item(sku) is None


@pytest.mark.parametrize(
    ("sku", "refused"),
    [("3*A", True), ("12 * B", True), ("٣*C", True), ("0*D", True), ("2.5*E", True),
     ("2. * F", True), (".5*G", True), ("A*3", False), ("3A", False), ("*3", False),
     ("X3*", False), ("-1*H", False), ("2.5H", False)],
)  # fmt: skip
def test_the_catalog_refuses_exactly_the_skus_the_apps_item_field_reads_as_a_quantity(
    demo, tmp_path: Path, sku: str, refused: bool
) -> None:
    """The app's item field (typed, or a scanner's burst) reads ``3*A`` as 3 of ``A``: such a
    SKU would sell another item there than ``--item`` sells, so the import refuses it; a ``*``
    anywhere else is the SKU's own."""
    from loyalty_pos.tui.router import parse_entry

    try:
        read_as: tuple[str, int] | None = parse_entry(sku)
    except Refused:  # "0*D": the app refuses the quantity
        read_as = None
    assert (read_as != (sku, 1)) == refused
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(f"sku,ean,name,price,category\n{sku},,Odd,1.00,x\n", encoding="utf-8")
    if refused:
        with pytest.raises(ConfigError, match="reads as a quantity"):
            import_catalog(demo, catalog)
        assert demo.store.item(sku) is None
    else:
        assert import_catalog(demo, catalog) == {"imported": 1}


def test_an_ean_that_is_a_members_card_is_refused(demo, tmp_path: Path) -> None:
    card = "96385074"  # a 4-byte NFC UID in hex, and a valid EAN-8
    svc.enroll(demo, card, "Eve")
    bad = tmp_path / "catalog.csv"
    bad.write_text(f"sku,ean,name,price,category\nGUM,{card},Gum,1.00,x\n")
    with pytest.raises(ConfigError) as e:
        import_catalog(demo, bad)
    assert e.value.problems == [
        f"line 2: ean {card} is a member's card here (a scan of it would add the item, not the member)"
    ]
    assert demo.store.item(card) is None


def test_a_corrupt_database_gives_a_sentence_not_a_traceback(tmp_path: Path, demo) -> None:
    home = demo.home
    demo.store.close()
    (home / "terminal.db").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (home / f"terminal.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(StorageError, match="damaged") as refused:
        open_terminal(home)
    # A till with a ledger must not go on selling from a backup (README: 'A till's disk died').
    assert "nightly backup" in str(refused.value) and "new terminal id" in str(refused.value)


def test_a_locked_database_is_reported_as_busy(demo) -> None:
    other = sqlite3.connect(demo.home / "terminal.db", timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    demo.store.conn.execute("PRAGMA busy_timeout=100")
    before = len(journal_from(other))
    with pytest.raises(StorageError, match="locked"):
        buy(demo, ANNA, "MILK")
    other.rollback()
    assert len(journal(demo)) == before


def journal_from(conn: sqlite3.Connection) -> list:
    return conn.execute("SELECT seq FROM journal").fetchall()


baskets = st.lists(
    st.tuples(
        st.sampled_from(
            ["MILK", "MASCARA", "BOOK-NOVEL", "COFFEE", "CIGARETTES", "GIFT25", "OLIVEOIL"]
        ),
        st.integers(1, 4),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=baskets, second=baskets, redeem=st.one_of(st.none(), st.just("max"), st.integers(0, 3000))
)
def test_full_refund_returns_the_member_to_the_balance_before_and_the_chain_verifies(
    demo, first, second, redeem
) -> None:
    buy(demo, BEN, *[f"{s}:{q}" for s, q in first])
    before = svc.balance(demo, BEN)["balance"]
    try:
        r = buy(demo, BEN, *[f"{s}:{q}" for s, q in second], redeem=redeem)
    except RedeemRefused:
        return
    assert r["points_earned"] >= 0 and r["balance"] >= 0
    assert shown(demo, r["receipt_id"]) == standing(demo, BEN)
    refunded = svc.refund(demo, r["receipt_id"], None, "1234")
    assert shown(demo, refunded["receipt_id"]) == standing(demo, BEN)
    assert svc.balance(demo, BEN)["balance"] == before
    assert svc.verify(demo)["ok"]


STANDING = ("balance", "tier", "next_tier", "spend_to_next_tier")


def shown(t: svc.Terminal, receipt_id: str) -> dict:
    """The member's balance and tier as the receipt prints them (worked out before the event
    was written)."""
    found = t.store.receipt(receipt_id)
    assert found is not None
    return {k: found[1][k] for k in STANDING}


def standing(t: svc.Terminal, card: str) -> dict:
    """The member's balance and tier read back from the cache afterwards."""
    return {k: svc.balance(t, card)[k] for k in STANDING}


def test_unknown_card_message_tells_the_cashier_what_to_do(demo) -> None:
    with pytest.raises(NotFound, match="enrol it"):
        svc.find_member(demo, "LC99999999")


def test_replacing_a_lost_card_links_the_new_and_blocks_the_old_in_one_go(demo) -> None:
    earned = buy(demo, ANNA, "MASCARA")["points_earned"]
    result = svc.replace_lost_card(demo, ANNA, "04FFEEDDCCBB01", "1234")
    assert result["member_id"] == "M0001"
    assert svc.balance(demo, "04FFEEDDCCBB01")["balance"] == earned
    with pytest.raises(Refused, match="blocked"):
        svc.find_member(demo, ANNA)
    before = state(demo)
    with pytest.raises(Refused, match=r"already belongs to Ben Carter \(M\d+\)\.$"):
        svc.replace_lost_card(demo, "04FFEEDDCCBB01", BEN, "1234")
    # The lost card handed in again to be enrolled: whose it was, and that it is blocked.
    with pytest.raises(Refused, match=r"already belongs to Anna Schmidt \(M0001\), blocked as"):
        svc.enroll(demo, ANNA, name="Someone Else")
    assert state(demo) == before
    assert demo.store.card("04FFEEDDCCBB01")["card_status"] == "active"


def test_a_sku_or_receipt_id_typed_in_lower_case_is_found(demo) -> None:
    """QA: `milk` was "unknown", and `t1-000002` said "No sale with receipt id" for a sale that
    exists (a false word that it was another till's). The refund names the sale as printed."""
    sale = buy(demo, ANNA, "milk:2", "book-novel")
    assert [line["sku"] for line in journal(demo)[-1]["lines"]] == ["MILK", "BOOK-NOVEL"]
    typed = sale["receipt_id"].lower()
    assert typed != sale["receipt_id"]
    assert svc.refundable_lines(demo, typed)[0]
    refund = svc.refund(demo, typed, {"MILK": 1}, "1234")
    assert journal(demo)[-1]["original_receipt_id"] == sale["receipt_id"]
    # QA: the refund window, opened with the id in lower case, counted no earlier refund
    left = {line.sku: line.left for line in svc.refundable_lines(demo, typed)[0]}
    assert left == {"MILK": 1, "BOOK-NOVEL": 1}
    again = svc.refund(demo, typed, None, "1234")  # the first refund counted against the sale
    assert [line["qty"] for line in journal(demo)[-1]["lines"]] == [1, 1]
    assert refund["original_receipt_id"] == again["original_receipt_id"] == sale["receipt_id"]
    assert svc.verify(demo)["ok"]


def test_a_barcode_card_typed_in_lower_case_is_the_card(demo) -> None:
    """QA: `lc00100037` (Ben's card) was "not known here. Press F4 to enrol it", and F4 then
    refused it as no card number: a card's letters are capitals where only they match."""
    assert svc.find_member(demo, "lc00100037").name == "Ben Carter"
    assert demo.is_card("lc00100037")
    enrolled = svc.enroll(demo, "lc77770001", name="Zoe")
    assert demo.store.card("LC77770001")["member_id"] == enrolled["member_id"]
    with pytest.raises(Refused, match="already belongs to Zoe"):
        svc.enroll(demo, "LC77770001")
    svc.block_card(demo, "lc77770001", "1234")
    assert demo.store.card("LC77770001")["card_status"] == "blocked"


def test_an_operation_dated_before_the_members_last_event_is_refused(demo) -> None:
    """QA: a sale given an --at a week back paid 2,900 points the member earned after it (the
    cache holds the member as of their last event), and verify said nothing."""
    from datetime import UTC, datetime

    later, earlier = datetime(2026, 12, 8, 10, tzinfo=UTC), datetime(2026, 12, 1, 10, tzinfo=UTC)
    lines = svc.resolve_items(demo, [], [("60.00", "grocery")])
    sale = svc.checkout(demo, ANNA, lines, at=later)
    before = state(demo)
    back = "is before this member's last event here"
    with pytest.raises(Refused, match=back):
        svc.checkout(demo, ANNA, lines, redeem="max", at=earlier)
    with pytest.raises(Refused, match=back):
        svc.balance(demo, ANNA, at=earlier)
    with pytest.raises(Refused, match=back):
        svc.adjust(demo, ANNA, 5, "late", "1234", at=earlier)
    assert state(demo) == before
    svc.checkout(demo, BEN, lines, at=earlier)  # another member's history is their own
    svc.checkout(demo, None, lines, at=earlier)  # and a sale without a card has none
    assert svc.balance(demo, ANNA, at=later)["balance"] == sale["balance"]
    svc.checkout(demo, ANNA, lines)  # the clock's own moment is never refused


def test_a_refund_preview_gives_the_balance_it_leaves_a_debt_included(demo) -> None:
    """QA: the refund window said what the refund takes back, not that it would leave the
    member at -798 points (the points had been spent): that came after the PIN."""
    lines = svc.resolve_items(demo, [], [("60.00", "grocery")])
    earned = svc.checkout(demo, ANNA, lines)
    spent = svc.checkout(demo, ANNA, svc.resolve_items(demo, [], [("80.00", "grocery")]), "max")
    assert spent["points_redeemed"] > 0
    before = state(demo)
    preview = svc.preview_refund(demo, earned["receipt_id"], {"OPEN:grocery": 1})
    assert preview["balance"] == spent["balance"]
    assert preview["balance_after"] == spent["balance"] - preview["points_reversed"] < 0
    assert state(demo) == before
    done = svc.refund(demo, earned["receipt_id"], None, "1234")
    assert done["balance"] == preview["balance_after"]


def test_a_refund_preview_of_a_sale_that_named_no_spent_lots_gives_the_balance_it_leaves(
    demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sale recorded before sales named the lots they spent gets the points it paid back as a
    new lot; the preview before the PIN left that lot out and announced a balance lower by
    those points than the one the refund then left."""
    svc.checkout(demo, ANNA, svc.resolve_items(demo, [], [("60.00", "grocery")]))  # 5,060 points
    append = demo.store.append

    def as_an_earlier_release(terminal_id, event, **kw):
        return append(terminal_id, {k: v for k, v in event.items() if k != "spent"}, **kw)

    monkeypatch.setattr(demo.store, "append", as_an_earlier_release)
    old = buy(demo, ANNA, "MILK:3", redeem=200)
    monkeypatch.undo()
    assert "spent" not in demo.store.event_by_receipt(old["receipt_id"])
    assert old["points_redeemed"] == 200
    before = state(demo)
    preview = svc.preview_refund(demo, old["receipt_id"], {"MILK": 3})
    assert preview["points_restored"] == 200
    assert preview["balance_after"] == (
        preview["balance"] - preview["points_reversed"] + preview["points_restored"]
    )
    assert state(demo) == before
    done = svc.refund(demo, old["receipt_id"], {"MILK": 3}, "1234")
    assert (done["points_reversed"], done["points_restored"]) == (
        preview["points_reversed"],
        preview["points_restored"],
    )
    assert done["balance"] == preview["balance_after"]
    assert svc.verify(demo)["ok"]


def test_a_refund_of_another_tills_receipt_says_where_to_refund_it(demo) -> None:
    """QA (three tills): 'No sale with receipt id' left the manager to guess the till."""
    other = "ZZ9-000002"
    with pytest.raises(NotFound, match=f"^Receipt {other} was printed by till ZZ9: refund it at"):
        svc.refund(demo, other, None, "1234")
    with pytest.raises(NotFound, match="No sale with receipt id"):  # this till's, unknown
        svc.refund(demo, f"{demo.config.terminal_id}-999999", None, "1234")


def test_refundable_lines_count_down_as_units_come_back(demo) -> None:
    receipt = buy(demo, ANNA, "MILK:3", "MASCARA")["receipt_id"]
    svc.refund(demo, receipt, {"MILK": 2}, "1234")
    lines, card = svc.refundable_lines(demo, receipt)
    assert {(line.sku, line.sold, line.left) for line in lines} == {
        ("MILK", 3, 1),
        ("MASCARA", 1, 1),
    }
    assert card.endswith("E500") and card.startswith("*")


def test_a_return_from_a_sale_paid_with_points_down_to_the_cash_part_pays_money_back(
    demo, program_text
) -> None:
    """At 10 points a unit a sale of 100.05 paid 990 points and 1.05 in money; the 3.95 item
    back was recorded as -0.05 and 40 points, a refund the ledger refuses. Each refund now
    gives money and points back, as the refunds before it leave them, and adds up."""
    from loyalty_pos.domain.program import parse_program_text

    text = program_text.replace("points_per_unit = 100 ", "points_per_unit = 10 ")
    with demo.store.transaction():
        demo.store.save_program(
            parse_program_text(text.replace("version = 1 ", "version = 2 ")), NOW
        )
    assert demo.program.redeem.points_per_unit == 10
    svc.adjust(demo, BEN, 2000, "welcome", "1234")
    lines = svc.resolve_items(
        demo, [], [("92.10", "grocery"), ("3.95", "grocery"), ("4.00", "grocery")]
    )
    sale = svc.checkout(demo, BEN, lines, "max")
    assert (sale["points_redeemed"], sale["due"]) == (990, "1.05")
    since = demo.store.head()[0]
    receipt = sale["receipt_id"]
    back = [
        svc.refund(demo, receipt, {sku: 1}, "1234")
        for sku in ("OPEN:grocery#2", "OPEN:grocery#3", "OPEN:grocery")
    ]
    assert [(r["refunded"], r["points_restored"]) for r in back] == [
        ("0.05", 39),
        ("0.00", 40),
        ("1.00", 911),
    ]
    assert ledger_problems(demo, since) == []
    assert svc.balance(demo, BEN)["balance"] == 2000
    assert svc.verify(demo)["ok"]


def test_two_processes_on_one_cache_keep_one_unbroken_chain(demo) -> None:
    """The app and a CLI call may share a terminal's cache: each checkout chains onto the other's."""
    other = open_terminal(demo.home)
    other.clock = demo.clock
    try:
        receipts = [
            buy(t, card, "MASCARA")["receipt_id"]
            for t, card in [(demo, ANNA), (other, BEN), (demo, BEN), (other, ANNA), (demo, None)]
        ]
        assert receipts == [f"DEMO1-{n:06d}" for n in range(1, 6)]
        assert svc.verify(demo)["ok"] and svc.verify(other)["ok"]
        assert svc.balance(other, ANNA)["balance"] == svc.balance(demo, ANNA)["balance"] > 0
    finally:
        other.store.close()


def test_a_failed_checkout_does_not_leave_a_stale_chain_head(demo, monkeypatch) -> None:
    buy(demo, ANNA, "MASCARA")

    def disk_error(*_a, **_k):
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as m:
        m.setattr(demo.store, "save_account", disk_error)  # after the event is appended
        with pytest.raises(StorageError):
            buy(demo, ANNA, "MASCARA")
    r = buy(demo, BEN, "MASCARA")
    assert r["receipt_id"] == "DEMO1-000002"
    assert svc.verify(demo)["ok"]


def test_a_program_stored_by_another_connection_rules_the_next_sale(demo, program_text) -> None:
    """The app's background sync stores a new program on its own connection; the checkout
    connection prices the next sale with it, without a restart."""
    from loyalty_pos.domain.program import parse_program_text

    assert buy(demo, ANNA, "MASCARA")["receipt_id"]  # the program is now parsed and cached
    assert demo.program.redeem.max_share == 1
    sync_side = open_terminal(demo.home)
    try:
        text = program_text.replace('max_share = "1.0"', 'max_share = "0.5"')
        with sync_side.store.transaction():
            sync_side.store.save_program(
                parse_program_text(text.replace("version = 1 ", "version = 2 ")), NOW
            )
    finally:
        sync_side.store.close()
    assert demo.program.version == 2 and demo.program.redeem.max_share == Decimal("0.5")
    r = buy(demo, ANNA, "MASCARA")
    assert demo.store.event_by_receipt(r["receipt_id"])["program_version"] == 2


# -- every event the terminal records is one the ledger takes ------------------------------

_chars = st.characters(blacklist_categories=("Cs", "Zs", "Cc"))


def near(limit: int) -> st.SearchStrategy[str]:
    """Short texts, and texts just either side of ``limit`` characters."""
    return st.one_of(
        st.text(_chars, min_size=1, max_size=12),
        st.text(_chars, min_size=limit - 2, max_size=limit + 2),
    )


def ledger_problems(t: svc.Terminal, since: int) -> list[str]:
    """What the ledger's wire models say about this terminal's events after seq ``since``."""
    from loyalty_pos.ledger import wire

    problems = []
    for event in t.store.events(since):
        env = wire.Envelope.check(event)
        if env.problem or not env.hash_ok:
            problems.append(f"seq {event['seq']}: {env.problem or 'hash'}")
            continue
        try:
            wire.parse_body(env.raw, wire.TERMINAL_TYPES)
        except ValueError as e:
            problems.append(f"seq {event['seq']} ({event['type']}): {e}")
    return problems


def test_a_sale_pays_at_most_the_points_one_event_carries_and_the_ledger_takes_it(demo) -> None:
    for _ in range(2):  # a balance above what one event may move
        svc.adjust(demo, BEN, 10**12, "migration", "1234")
    since = demo.store.head()[0]
    big = svc.resolve_items(demo, [], [("50000000000.00", "grocery")])
    with pytest.raises(RedeemRefused, match=r"at most 1,000,000,000,000 points") as e:
        svc.checkout(demo, BEN, big, 10**12 + 1)
    assert e.value.limit == "max_points" and demo.store.head()[0] == since
    sale = svc.checkout(demo, BEN, big, "max")
    assert sale["points_redeemed"] == 10**12 and sale["points_value"] == "10000000000.00"
    assert ledger_problems(demo, since) == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(["MILK", "MASCARA", "COFFEE", "GIFT25"]), st.integers(1, 999)),
        max_size=4,
    ),
    open_lines=st.lists(
        st.tuples(st.integers(0, 10**12).map(lambda m: f"{m // 100}.{m % 100:02d}"), near(59)),
        max_size=3,
    ),
    card=st.sampled_from([ANNA, BEN, None]),
    redeem=st.sampled_from([None, "max"]),
    new_card=near(64),
    name=near(200),
    email=near(196),
)
def test_whatever_the_terminal_records_the_ledger_takes(
    demo, items, open_lines, card, redeem, new_card, name, email
) -> None:
    since = demo.store.head()[0]
    recorded = 0
    try:
        lines = svc.resolve_items(demo, items, open_lines)
        if lines:
            svc.checkout(demo, card, lines, redeem)
            recorded += 1
    except Refused:
        pass  # refused at the terminal: nothing recorded, nothing for the ledger to refuse
    try:
        svc.enroll(demo, f"{new_card}{since}"[-len(new_card) :], name, f"x@a.{email}")
        recorded += 1
    except Refused:
        pass
    assert demo.store.head()[0] == since + recorded
    assert ledger_problems(demo, since) == []


def _day(t: svc.Terminal, start, end=None) -> dict:
    from loyalty_pos.reports import day_report

    return day_report(t, start, end)


def _flows(report: dict) -> int:
    return report["issued"] - report["redeemed"] + report["adjusted"] - report["expired"]


def test_the_report_counts_points_expired_on_the_night_their_lot_lapses(demo) -> None:
    """Ben's books earn a year's points and a cashback that lasts 60 days; he pays with some of
    the cashback on day 30. The rest of it lapses at the start of day 60: the report of day 59
    counts it expired, no other day does, and each day's liability is the day before's plus its
    flows (issued - redeemed + adjusted - expired)."""
    bought = NOW - timedelta(days=70)
    sale = buy(demo, BEN, "BOOK-COOK:2", at=bought)
    cashback = next(b["points"] for b in sale["breakdown"] if b["rule"] == "promo:books-cashback")
    paid = buy(demo, BEN, "MILK:3", redeem=100, at=bought + timedelta(days=30))
    assert paid["points_redeemed"] == 100
    lapse_day = (bought + timedelta(days=59)).date()
    previous = _day(demo, (bought - timedelta(days=1)).date())
    for n in range(0, 62):
        day = (bought + timedelta(days=n)).date()
        report = _day(demo, day)
        assert report["expired"] == (cashback - 100 if day == lapse_day else 0), day
        assert report["outstanding_points"] == previous["outstanding_points"] + _flows(report)
        previous = report
    whole = _day(demo, bought.date(), lapse_day)
    assert whole["expired"] == cashback - 100
    assert "Points expired (lots that lapsed)" in _report_text(whole)


def test_points_a_refund_gives_back_already_lapsed_count_as_expired_that_day(demo) -> None:
    """Anna pays 500 points that lapse on 1 January; the sale is refunded on the 10th: the 500
    come back lapsed. The day's report counts them given back (redeemed -500) and expired, so
    the liability moves by the day's flows, and a report of the whole span says the same as
    its days."""
    first = datetime(2025, 1, 2, 10, tzinfo=NOW.tzinfo)
    buy(demo, ANNA, "MASCARA", "BOOK-NOVEL:2", at=first)
    svc.adjust(demo, ANNA, 600, "welcome", "1234", at=first)
    paid = buy(
        demo, ANNA, "FACECREAM", redeem=500, at=datetime(2025, 12, 20, 10, tzinfo=NOW.tzinfo)
    )
    assert paid["points_redeemed"] == 500
    refund_day = datetime(2026, 1, 10, 10, tzinfo=NOW.tzinfo)
    svc.refund(demo, paid["receipt_id"], None, "1234", at=refund_day)

    before, day = _day(demo, refund_day.date() - timedelta(days=1)), _day(demo, refund_day.date())
    assert day["redeemed"] == -500 and day["expired"] == 500
    assert day["outstanding_points"] == before["outstanding_points"] + _flows(day)
    span = _day(demo, first.date(), refund_day.date())
    days = [
        _day(demo, first.date() + timedelta(days=n))["expired"]
        for n in range((refund_day.date() - first.date()).days + 1)
    ]
    assert span["expired"] == sum(days) >= 500


def test_a_till_on_the_machines_zone_reports_a_summer_day_from_midnight_to_midnight(
    tmp_path,
) -> None:
    """A till without ``timezone`` keeps the machine's time (Berlin here). Its report of a day
    cut the day at midnight of the offset the clock had when the report was made: made in
    winter (+01:00), the report of 1 July ran from 01:00 to 01:00 summer time, so a sale at
    00:30 fell in 30 June's; and the nightly report of 24 October, made at 02:30 on the 25th
    after the clocks went back, left out the 24th's first hour and took in the 25th's."""
    from loyalty_pos.bootstrap import make_demo_home

    with machine_zone("Europe/Berlin"):
        t = make_demo_home(tmp_path / "demo")
        assert t.config.tz is None
        summer = [
            datetime(2026, 7, 1, 0, 30),
            datetime(2026, 7, 1, 12),
            datetime(2026, 7, 2, 0, 30),
        ]
        autumn = [datetime(2026, 10, 24, 0, 30), datetime(2026, 10, 25, 0, 30)]
        for at in summer + autumn:  # the store's clock, as `--at` is typed
            svc.checkout(t, None, svc.resolve_items(t, [("MILK", 1)]), at=at)
        t.clock = lambda: datetime(2027, 1, 15, 12, tzinfo=UTC)
        report = _day(t, date(2026, 7, 1))
        assert report["from"] == "2026-07-01T00:00:00+02:00"
        assert report["to"] == "2026-07-02T00:00:00+02:00"
        assert report["checkouts"] == 2
        t.clock = lambda: datetime(2026, 10, 25, 2, 30, tzinfo=UTC)  # 02:30 after the change
        nightly = _day(t, date(2026, 10, 24))
        assert nightly["checkouts"] == 1
        assert nightly["to"] == "2026-10-25T00:00:00+02:00"
        t.store.close()


def _report_text(report: dict) -> str:
    from loyalty_pos.reports import report_text

    return report_text(report)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 200),  # the day, counted from the first
            st.sampled_from(["books", "redeem", "refund", "adjust", "clawback"]),
        ),
        min_size=1,
        max_size=12,
    ),
    cut=st.integers(1, 250),
)
def test_a_period_s_liability_moves_by_its_flows_whatever_happens(
    ops, cut, tmp_path_factory
) -> None:
    """For any sales, points payments, refunds and adjustments over months: the liability at a
    period's end is the liability before it plus the period's issued, less redeemed, plus
    adjusted, less expired, for a single day and for a long period alike."""
    from loyalty_pos.bootstrap import make_demo_home

    t = make_demo_home(tmp_path_factory.mktemp("flows") / "demo")
    start = NOW - timedelta(days=400)
    t.clock = lambda: NOW
    sales: list[str] = []
    try:
        for day, op in sorted(ops):
            at = start + timedelta(days=day)
            try:
                if op == "books":
                    sales.append(buy(t, BEN, "BOOK-COOK", at=at)["receipt_id"])
                elif op == "redeem":
                    sales.append(buy(t, BEN, "MILK:3", redeem="max", at=at)["receipt_id"])
                elif op == "refund" and sales:
                    svc.refund(t, sales.pop(0), None, "1234", at=at)
                elif op in ("adjust", "clawback"):
                    points = 80 if op == "adjust" else -120
                    svc.adjust(t, BEN, points, "correction", "1234", at=at)
            except Refused:
                pass
        first = start.date()
        before = _day(t, first - timedelta(days=1))
        middle = first + timedelta(days=cut)
        for a, b in ((first, middle), (middle + timedelta(days=1), first + timedelta(days=260))):
            period = _day(t, a, b)
            assert period["outstanding_points"] == before["outstanding_points"] + _flows(period)
            before = period
        # Single days: one picked at random, and those around each cashback's lapse.
        days = {middle} | {
            first + timedelta(days=day + k)
            for day, op in ops
            if op == "books"
            for k in (58, 59, 60)
        }
        for day in sorted(days):
            one, day_before = _day(t, day), _day(t, day - timedelta(days=1))
            assert one["outstanding_points"] == day_before["outstanding_points"] + _flows(one), day
    finally:
        t.store.close()


def test_a_refund_dated_before_its_sale_is_refused_and_records_nothing(demo) -> None:
    sale = buy(demo, ANNA, "BOOK-COOK", "MILK")
    before = state(demo)
    with pytest.raises(Refused, match=r"a refund cannot come before its sale") as refused:
        svc.refund(demo, sale["receipt_id"], {"MILK": 1}, "1234", at=NOW - timedelta(days=9))
    assert NOW.astimezone().strftime("%Y-%m-%d at %H:%M") in str(refused.value)  # store time
    assert state(demo) == before
    assert svc.refund(demo, sale["receipt_id"], {"MILK": 1}, "1234")["receipt_id"]


def test_one_moment_typed_with_two_offsets_is_one_store_time(demo) -> None:
    """Without a `timezone` in the config the store's time is the machine's: `--at` typed with
    any offset is converted to it, so promotion days, birthdays and expiry follow the moment,
    not how it was written."""
    utc = datetime.fromisoformat("2026-03-10T23:30:00+00:00")
    paris = datetime.fromisoformat("2026-03-11T00:30:00+01:00")
    assert demo.config.tz is None
    assert (
        demo.now(utc) == demo.now(paris)
        and demo.now(utc).isoformat() == demo.now(paris).isoformat()
    )
    a = svc.checkout(demo, ANNA, svc.resolve_items(demo, [("MILK", 1)]), at=utc)
    b = svc.checkout(demo, ANNA, svc.resolve_items(demo, [("MILK", 1)]), at=paris)
    first, second = (demo.store.event_by_receipt(x["receipt_id"]) for x in (a, b))
    assert first["occurred_at"] == second["occurred_at"] == utc.astimezone().isoformat()


def test_init_in_a_folder_the_user_cannot_write_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: `init --home` on a folder the user may not write to said only SQLite's "The database
    .../terminal.db could not be used: unable to open database file" (exit 1, a fault of the
    program's). It is refused naming the folder and the permission, and leaves nothing there.
    (os.access is stood in for: the suite may run as root, whom permissions never stop.)"""
    from loyalty_pos import bootstrap

    home = tmp_path / "till"
    home.mkdir()
    real_access = bootstrap.os.access
    monkeypatch.setattr(
        bootstrap.os, "access", lambda p, mode: False if Path(p) == home else real_access(p, mode)
    )
    program = Path(__file__).resolve().parents[2] / "config" / "program.example.toml"
    with pytest.raises(Refused, match=r"cannot be written to \(permission denied\)") as e:
        bootstrap.init_terminal(home, "T1", program, manager_pin="1234")
    assert str(home) in str(e.value)
    assert list(home.iterdir()) == []


def test_a_time_in_the_spring_forward_gap_is_recorded_as_the_clock_then_reads_it(demo) -> None:
    """QA: ``--at 2027-03-28T02:30`` in Berlin, an hour the clocks skip, was recorded and
    printed as 02:30+01:00, a time no clock in the store showed; it is 03:30+02:00, the same
    moment. A time in the autumn's repeated hour is its first (summer) one."""
    from dataclasses import replace

    demo.config = replace(demo.config, timezone="Europe/Berlin")
    sale = buy(demo, ANNA, "MILK", at=datetime(2027, 3, 28, 2, 30))
    event = demo.store.event_at(1)
    assert event is not None and event["occurred_at"] == "2027-03-28T03:30:00+02:00"
    assert "2027-03-28 03:30" in printing.receipt_text(demo, sale["receipt_id"])
    buy(demo, ANNA, "MILK", at=datetime(2027, 10, 31, 2, 30))
    event = demo.store.event_at(2)
    assert event is not None and event["occurred_at"] == "2027-10-31T02:30:00+02:00"
