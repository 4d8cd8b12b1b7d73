"""Admin operations through the HTTP API: freeze, adjust, cards, program versions, expiry."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from ledger_helpers import Journal, LedgerServer, Terminal, program, statuses

from loyalty_pos.ledger.store import LedgerStore


def _member(t: Terminal, earned: int = 0) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    member, card = f"M-{tag}", f"C{tag.upper()}"
    t.journal.enroll(member, card)
    if earned:
        t.journal.checkout(member, card, earned * 100, earned=earned)
    assert set(statuses(t.push(t.journal.events))) <= {"accepted", "duplicate"}
    return member, card


def _pull_member(t: Terminal, since: int, member: str) -> dict[str, Any]:
    page = t.http.get("/v1/sync/pull", params={"since": since}).json()
    found = [m for m in page["members"] if m["member_id"] == member]
    assert len(found) == 1, page
    return found[0]


def test_freeze_and_unfreeze_show_in_the_next_pull(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, _ = _member(t, earned=100)
    since = ledger.top()

    r = ledger.admin.post(f"/v1/members/{member}/freeze", json={"reason": "card reported stolen"})
    assert r.status_code == 200, r.text
    assert _pull_member(t, since, member)["status"] == "frozen"
    assert (
        ledger.admin.post(f"/v1/members/{member}/freeze", json={"reason": "again"}).status_code
        == 409
    )

    since = ledger.top()
    r = ledger.admin.post(f"/v1/members/{member}/unfreeze", json={"reason": "card found"})
    assert r.status_code == 200
    assert _pull_member(t, since, member)["status"] == "active"
    assert ledger.admin.post("/v1/members/M-nobody/freeze", json={"reason": "x"}).status_code == 404
    assert ledger.admin.post(f"/v1/members/{member}/freeze", json={}).status_code == 400


def test_a_frozen_members_sales_that_already_happened_are_still_recorded(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    member, card = _member(t, earned=100)
    ledger.admin.post(f"/v1/members/{member}/freeze", json={"reason": "audit"})
    t.journal.checkout(member, card, 1000, earned=10, offline=True)
    assert statuses(t.push(t.journal.events[-1:])) == ["accepted"]
    view = ledger.member(member)
    assert view["balance"] == 110 and view["status"] == "frozen"


def test_pushes_see_changes_made_by_another_process_on_the_same_database(
    ledger: LedgerServer,
) -> None:
    from loyalty_pos.ledger.store import LedgerStore

    t = ledger.add_terminal()
    member, card = _member(t, earned=100)
    other = LedgerStore.open(ledger.db_url)  # e.g. the nightly script, beside the service
    try:
        other.adjust(member, 40, "goodwill")
        other.set_frozen(member, True, "audit")
    finally:
        other.close()
    t.journal.checkout(member, card, 1000, earned=10)
    t.push(t.journal.events[-1:])

    view = ledger.member(member)
    assert view["balance"] == view["ledger_balance"] == 150
    assert view["status"] == "frozen"


def test_adjustments_move_points_to_and_from_the_adjusted_account(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, _ = _member(t, earned=100)
    before = ledger.audit()["program_accounts"].get("program:adjusted", 0)

    up = ledger.admin.post(
        f"/v1/members/{member}/adjust", json={"points": 250, "reason": "goodwill"}
    )
    down = ledger.admin.post(
        f"/v1/members/{member}/adjust", json={"points": -500, "reason": "fraud"}
    )

    assert up.status_code == down.status_code == 200
    assert down.json()["balance"] == 100 + 250 - 500
    view = ledger.member(member)
    assert view["balance"] == view["ledger_balance"] == -150
    assert view["debt"] == 150
    audit = ledger.audit()
    assert audit["program_accounts"]["program:adjusted"] - before == 250
    assert audit["sum_of_balances"] == 0
    for bad in (
        {"points": 0, "reason": "x"},
        {"points": "5", "reason": "x"},
        {"points": 10**15, "reason": "x"},
        {"points": 5},
        {"points": 1.5, "reason": "x"},
        {"points": 5, "reason": "   "},
        {"points": 5, "reason": "goodwill\x1bp"},  # ESC p: a printer's drawer-kick command
        {"points": 5, "reason": "two\nlines"},
    ):
        top = ledger.top()
        r = ledger.admin.post(f"/v1/members/{member}/adjust", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert ledger.top() == top
    assert "control character" in r.json()["message"]
    assert ledger.member(member)["balance"] == -150


def test_a_freeze_reason_must_be_printable_text(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, _ = _member(t)
    top = ledger.top()
    for reason in ("", "  ", "audit\x07", "audit\u2028again"):
        r = ledger.admin.post(f"/v1/members/{member}/freeze", json={"reason": reason})
        assert r.status_code == 400, (reason, r.text)
    assert ledger.top() == top
    assert ledger.member(member)["status"] == "active"
    r = ledger.admin.post(f"/v1/members/{member}/freeze", json={"reason": "  audit  "})
    assert r.status_code == 200
    assert ledger.member(member)["status"] == "frozen"


def test_a_reason_with_a_bidi_control_or_nothing_visible_is_refused(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, _ = _member(t, earned=100)
    top = ledger.top()
    for reason in (
        "refund \u202egnorw",  # RIGHT-TO-LEFT OVERRIDE: shows as "refund wrong"
        "audit \u2066note\u2069",  # an isolate
        "\u200b",  # a zero-width space alone
        " \u200b\u200c\u200d\u2060\ufeff ",
    ):
        for path, body in (
            ("adjust", {"points": 5, "reason": reason}),
            ("freeze", {"reason": reason}),
        ):
            r = ledger.admin.post(f"/v1/members/{member}/{path}", json=body)
            assert r.status_code == 400, (reason, path, r.text)
    assert "no visible character" in r.json()["message"]
    assert ledger.top() == top
    view = ledger.member(member)
    assert view["balance"] == 100 and view["status"] == "active"
    # A joiner inside text is part of it (an emoji, a script), not a trick.
    r = ledger.admin.post(
        f"/v1/members/{member}/adjust", json={"points": 5, "reason": "bonus 👩\u200d💻 team"}
    )
    assert r.status_code == 200, r.text


def test_cards_can_be_blocked_and_linked_but_never_shared(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, card = _member(t)
    other, other_card = _member(t)
    since = ledger.top()

    assert ledger.admin.post(f"/v1/cards/{card}/block").status_code == 200
    assert ledger.admin.post(f"/v1/cards/{card}/block").status_code == 409
    new_card = card + "N"
    r = ledger.admin.post(f"/v1/members/{member}/cards", json={"card": new_card})
    assert r.status_code == 201, r.text

    snap = _pull_member(t, since, member)
    assert snap["cards"] == [
        {"card": card, "status": "blocked"},
        {"card": new_card, "status": "active"},
    ]
    assert t.http.get(f"/v1/cards/{new_card}").json()["member_id"] == member
    r = ledger.admin.post(f"/v1/members/{member}/cards", json={"card": other_card})
    assert r.status_code == 409
    assert ledger.admin.post("/v1/cards/NOPE/block").status_code == 404
    assert t.http.get("/v1/cards/NOPE").status_code == 404


def test_program_versions_are_validated_and_must_increase(fresh_ledger: LedgerServer) -> None:
    ledger = fresh_ledger
    t = ledger.add_terminal()
    bad = program(1)
    bad["earn"]["points_per_unitt"] = 1
    bad["tiers"]["levels"][1]["min_spend"] = "-5"
    r = ledger.admin.put("/v1/program", json=bad)
    assert r.status_code == 400
    problems = r.json()["problems"]
    assert any("points_per_unitt" in p for p in problems)
    assert any("min_spend" in p for p in problems)
    assert ledger.admin.put("/v1/program", json=["not", "a", "table"]).status_code == 400
    assert t.http.get("/v1/program").status_code == 404

    since = ledger.top()
    stored = ledger.admin.put("/v1/program", json=program(1))
    assert stored.status_code == 200
    # the program in force again: nothing stored, its change answered (a set-up script rerun)
    again = ledger.admin.put("/v1/program", json=program(1))
    assert (again.status_code, again.json()) == (200, stored.json())
    other = program(1, tiers={"window_days": 30})  # other rules under the same version
    assert ledger.admin.put("/v1/program", json=other).status_code == 409
    pulled = t.http.get("/v1/sync/pull", params={"since": since}).json()
    assert pulled["program"]["version"] == 1
    assert pulled["program"]["rules"]["redeem"]["points_per_unit"] == 100
    assert t.http.get("/v1/sync/pull", params={"since": pulled["cursor"]}).json()["program"] is None

    r = ledger.admin.put("/v1/program", json=program(2, tiers={"window_days": 30}))
    assert r.status_code == 200
    assert t.http.get("/v1/program").json()["version"] == 2


def test_a_program_in_another_currency_is_refused(fresh_ledger: LedgerServer) -> None:
    ledger = fresh_ledger
    assert ledger.admin.put("/v1/program", json=program(1)).status_code == 200  # EUR
    top = ledger.top()
    for currency in ("JPY", "USD"):  # another exponent (rescales all money), or the same one
        r = ledger.admin.put("/v1/program", json=program(2, program={"currency": currency}))
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "conflict"
        assert f"currency is {currency}" in r.json()["message"] and "EUR" in r.json()["message"]
    assert ledger.top() == top
    current = ledger.admin.get("/v1/program").json()
    assert current["version"] == 1 and current["rules"]["program"]["currency"] == "EUR"
    assert ledger.admin.put("/v1/program", json=program(2)).status_code == 200


def test_the_tier_follows_qualifying_spend_in_the_window(fresh_ledger: LedgerServer) -> None:
    ledger = fresh_ledger
    ledger.admin.put("/v1/program", json=program(1))
    t = ledger.add_terminal()
    member, card = _member(t)
    old = datetime(2020, 1, 1, 12, tzinfo=UTC)
    t.journal.checkout(member, card, 90_000, earned=900, at=old)  # outside the 365-day window
    t.journal.checkout(member, card, 60_000, earned=600)
    sale = t.journal.checkout(member, card, 10_000, earned=100)
    t.journal.refund(member, sale["receipt_id"], 5_000, reversed_points=50)
    t.push(t.journal.events)

    snap = t.http.get(f"/v1/cards/{card}").json()

    assert snap["qualifying_spend_minor"] == 60_000 + 10_000 - 5_000
    assert snap["tier"] == "Sapphire"
    assert snap["balance"] == 900 + 600 + 100 - 50


def test_expire_writes_an_event_per_lapsed_lot(fresh_ledger: LedgerServer) -> None:
    ledger = fresh_ledger
    t = ledger.add_terminal()
    member, card = _member(t)
    spring = datetime(2025, 3, 1, 10, tzinfo=UTC)
    t.journal.checkout(member, card, 5000, earned=50, at=spring, expires=date(2025, 6, 1))
    t.journal.checkout(
        member, card, 7000, earned=70, at=spring.replace(month=4), expires=date(2025, 9, 1)
    )
    t.journal.checkout(
        member,
        card,
        2000,
        earned=20,
        at=spring.replace(month=5),
        redeemed=30,
        value_minor=30,
        expires=date(2099, 1, 1),
    )
    t.push(t.journal.events)
    since = ledger.top()

    r = ledger.admin.post("/v1/expire", params={"at": "2025-07-01"})

    assert r.status_code == 200, r.text
    assert r.json() == {"at": "2025-07-01T00:00:00+00:00", "members": 1, "lots": 1, "points": 20}
    snap = t.http.get("/v1/sync/pull", params={"since": since}).json()["members"][0]
    assert snap["balance"] == 50 + 70 + 20 - 30 - 20
    assert [lot["expires_at"] for lot in snap["lots"]] == ["2025-09-01", "2099-01-01"]
    again = ledger.admin.post("/v1/expire", params={"at": "2025-07-01"}).json()
    assert again["lots"] == 0
    # Ahead of the clock: refused (a mistyped year would expire points early), nothing written.
    top = ledger.top()
    ahead = ledger.admin.post("/v1/expire", params={"at": "2999-01-01T00:00:00+00:00"})
    assert ahead.status_code == 400 and "in the future" in ahead.text
    assert ledger.top() == top
    later = ledger.admin.post("/v1/expire").json()  # now: the 2025-09-01 lot has lapsed
    assert later["points"] == 70
    audit = ledger.audit()
    assert audit["program_accounts"]["program:expired"] == 90
    assert audit["sum_of_balances"] == 0 and audit["members_mismatched"] == []
    assert ledger.admin.post("/v1/expire", params={"at": "yesterday"}).status_code == 400


def test_a_control_character_in_an_id_is_refused_with_400_and_nothing_written(
    ledger: LedgerServer,
) -> None:
    # PostgreSQL cannot hold NUL in a text value: before the ids were checked at the edge, such
    # an id reached the database and came back as a 500.
    t = ledger.add_terminal()
    member, card = _member(t, earned=100)
    top = ledger.top()
    for bad in ("%00", "A%00B", "%1B", "%C2%85"):  # NUL, NUL inside, ESC, NEL (a C1 control)
        calls = [
            t.http.get(f"/v1/cards/{bad}"),
            ledger.admin.get(f"/v1/cards/{bad}"),
            ledger.admin.get(f"/v1/members/{bad}"),
            ledger.admin.post(f"/v1/cards/{bad}/block"),
            ledger.admin.post(f"/v1/members/{bad}/adjust", json={"points": 5, "reason": "x"}),
            ledger.admin.post(f"/v1/members/{bad}/freeze", json={"reason": "x"}),
            ledger.admin.post(f"/v1/members/{bad}/unfreeze", json={"reason": "x"}),
            ledger.admin.post(f"/v1/members/{bad}/cards", json={"card": "CNEW"}),
        ]
        for r in calls:
            assert r.status_code == 400, (bad, r.request.url, r.text)
            assert r.json()["error"] == "invalid"
            assert "control character" in r.json()["message"]
    for bad_card in ("\u0000", "C\u0000", "C\x1b", "C\u2028"):
        r = ledger.admin.post(f"/v1/members/{member}/cards", json={"card": bad_card})
        assert r.status_code == 400, (bad_card, r.text)
        assert "control character" in r.json()["message"]
    assert ledger.top() == top
    view = ledger.member(member)
    assert view["cards"] == [{"card": card, "status": "active"}] and view["balance"] == 100


@pytest.mark.parametrize(
    ("zone", "utc_now", "written_off"),
    [
        # 02:15 on 7 March in Tokyo is still 6 March in UTC: the lot ending on the 7th is due
        ("Asia/Tokyo", datetime(2026, 3, 6, 17, 15, tzinfo=UTC), 50),
        # 20:00 on 6 March in New York is already 7 March in UTC: the lot may still be spent
        ("America/New_York", datetime(2026, 3, 7, 1, 0, tzinfo=UTC), 0),
    ],
)
def test_an_expiry_run_for_now_takes_the_day_of_the_ledgers_machine_not_utcs(
    db_url: str, monkeypatch: pytest.MonkeyPatch, zone: str, utc_now: datetime, written_off: int
) -> None:
    """QA: ``loyalty-ledger expire`` from cron on a machine in the store's zone took the UTC
    day for the lots that had lapsed: a store east of UTC had them written off a day late (in
    the balances and the report one day more), one west of UTC had lots still spendable at
    the tills that evening written off."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()  # the zone the machine's clock is read in (cron's)
    try:
        store = LedgerStore.open(db_url, clock=lambda: utc_now)
        try:
            store.add_terminal("ZONE")
            journal = Journal("ZONE")
            journal.enroll("Z1", "CZ1", at=datetime(2025, 12, 1, 10, tzinfo=UTC))
            journal.checkout(
                "Z1",
                "CZ1",
                5000,
                earned=50,
                at=datetime(2025, 12, 1, 10, tzinfo=UTC),
                expires=date(2026, 3, 7),
            )
            store.push("ZONE", journal.events)
            result = store.expire()
            assert result["points"] == written_off
            assert datetime.fromisoformat(result["at"]) == utc_now
        finally:
            store.close()
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_admins_points_and_a_members_spendable_points_go_by_the_day_of_the_ledgers_machine(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: at 08:00 in Tokyo (23:00 UTC the day before) an admin's 100 points were earned
    "yesterday" and lapsed a day early, and a lot that had lapsed as the store's day began
    still counted in the member's spendable points until 09:00."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    now = [datetime(2026, 3, 6, 23, 0, tzinfo=UTC)]  # 08:00 on 7 March in Tokyo
    try:
        store = LedgerStore.open(db_url, clock=lambda: now[0])
        try:
            store.put_program(program(1))
            store.add_terminal("ZONE")
            journal = Journal("ZONE")
            journal.enroll("Z1", "CZ1", at=datetime(2025, 12, 1, 10, tzinfo=UTC))
            journal.checkout(
                "Z1",
                "CZ1",
                5000,
                earned=50,
                at=datetime(2025, 12, 1, 10, tzinfo=UTC),
                expires=date(2026, 3, 7),
            )
            store.push("ZONE", journal.events)
            assert store.member_view("Z1")["spendable_balance"] == 0  # lapsed this morning
            store.adjust("Z1", 100, "goodwill")
            view = store.member_view("Z1")
            assert {"points": 100, "earned_at": "2026-03-07", "expires_at": "2027-03-07"} in (
                view["lots"]
            )
            assert view["spendable_balance"] == 100
        finally:
            store.close()
    finally:
        monkeypatch.undo()
        time.tzset()
