"""Push and pull against a real ledger: round trips, retries, lost responses, and tampering."""

from __future__ import annotations

import httpx
import pytest
from ledger_helpers import (
    DroppingProxy,
    Journal,
    LedgerServer,
    assert_books_balance,
    new_ids,
    statuses,
)

from loyalty_pos.domain.events import chain_hash, seal
from loyalty_pos.ledger.models import PullResponse


def test_pushed_journal_comes_back_in_the_pull_snapshot(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    since = ledger.top()
    j = t.journal
    enrolled = j.enroll(member, card, birthday="1990-05-17", email="a@example.org")
    sale = j.checkout(
        member, card, 6000, earned=60, punch_before={"COFFEE": 4}, punch_after={"COFFEE": 5}
    )
    j.add("card_link", member_id=member, card=card + "B")

    out = t.push(j.events)

    assert statuses(out) == ["accepted"] * 3
    assert out["head"] == {"seq": 3, "hash": j.head}
    pulled = t.http.get("/v1/sync/pull", params={"since": since}).json()
    # the page is sent as the store builds it: exactly the documented model, nothing more
    assert PullResponse.model_validate(pulled).model_dump(mode="json") == pulled
    assert pulled["more"] is False
    assert [m["member_id"] for m in pulled["members"]] == [member]
    snap = pulled["members"][0]
    expires = sale["lots"][0]["expires_at"]
    assert snap == {
        "member_id": member,
        "cards": [{"card": card, "status": "active"}, {"card": card + "B", "status": "active"}],
        "name": f"Member {member}",
        "email": "a@example.org",
        "phone": None,
        "birthday": "1990-05-17",
        "tier": snap["tier"],
        "qualifying_spend_minor": snap["qualifying_spend_minor"],
        "window_spend": snap["window_spend"],
        "balance": 60,
        "lots": [{"points": 60, "earned_at": sale["lots"][0]["earned_at"], "expires_at": expires}],
        "written_off": [],
        "owed": [],
        "covered": [],
        "status": "active",
        "punch": {"COFFEE": 1},
        "last_birthday_bonus": None,
        "counted_through": {t.terminal_id: 3},
        "enrolled_at": enrolled["occurred_at"],  # a till's report counts t from it
    }
    # the spend in the window comes with its moments (none without a program: no window)
    assert sum(amount for _, amount in snap["window_spend"]) == snap["qualifying_spend_minor"]
    assert pulled["snapshot_format"] == 4
    # the terminal's own chain head, as the push answered it: a terminal told a lower seq later
    # knows the ledger lost its events after it (restored from a backup); and whose it is, so a
    # till given another till's token is told so
    assert pulled["head"] == {**out["head"], "terminal_id": t.terminal_id}
    assert t.http.get(f"/v1/cards/{card}B").json() == snap
    again = t.http.get("/v1/sync/pull", params={"since": pulled["cursor"]}).json()
    assert again["members"] == [] and again["cursor"] == pulled["cursor"]
    assert again["head"] == pulled["head"]
    assert ledger.admin.get("/v1/sync/pull", params={"since": since}).json()["head"] is None
    assert_books_balance(ledger)


def test_pull_pages_through_changes_in_order(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    since = ledger.top()
    wanted = [new_ids() for _ in range(5)]
    for member, card in wanted:
        t.journal.enroll(member, card)
    t.push(t.journal.events)

    seen, cursor, pages = [], since, 0
    while True:
        page = t.http.get("/v1/sync/pull", params={"since": cursor, "limit": 2}).json()
        pages += 1
        seen += [m["member_id"] for m in page["members"]]
        assert page["cursor"] >= cursor
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert seen == [m for m, _ in wanted]
    assert pages == 3


def test_the_same_batch_sent_three_times_is_applied_once(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    j.checkout(member, card, 5000, earned=500)
    j.checkout(member, card, 2000, earned=20, redeemed=300, value_minor=300)
    j.checkout(None, None, 1500)

    first = t.push(j.events)
    second = t.push(j.events)
    third = t.push(j.events)

    assert statuses(first) == ["accepted"] * 4
    assert statuses(second) == statuses(third) == ["duplicate"] * 4
    assert [r["ledger_seq"] for r in third["results"]] == [
        r["ledger_seq"] for r in first["results"]
    ]
    assert second["head"] == third["head"] == {"seq": 4, "hash": j.head}
    assert ledger.member(member)["balance"] == 500 + 20 - 300
    assert ledger.member(member)["ledger_balance"] == 220
    assert_books_balance(ledger)


def test_a_response_lost_after_commit_is_answered_duplicate_on_resend(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    t.journal.enroll(member, card)
    t.journal.checkout(member, card, 9900, earned=99)
    proxy = DroppingProxy(ledger.port)
    lost = httpx.Client(
        base_url=f"http://127.0.0.1:{proxy.port}",
        timeout=30,
        headers={"Authorization": f"Bearer {t.token}"},
    )

    with pytest.raises(httpx.TransportError):
        lost.post("/v1/sync/push", json={"terminal_id": t.terminal_id, "events": t.journal.events})
    assert proxy.answered.wait(10)

    resent = t.push(t.journal.events)
    assert statuses(resent) == ["duplicate", "duplicate"]
    assert ledger.member(member)["balance"] == 99
    assert_books_balance(ledger)


def test_a_resend_that_overlaps_new_events_applies_only_the_new_ones(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    j.checkout(member, card, 1000, earned=10)
    t.push(j.events)
    j.checkout(member, card, 1000, earned=10)
    j.events.append(dict(j.events[-1]))  # the same event twice in one batch

    out = t.push(j.events)

    assert statuses(out) == ["duplicate", "duplicate", "accepted", "duplicate"]
    assert ledger.member(member)["balance"] == 20


def test_an_edited_event_that_was_already_pushed_is_a_conflict(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    sale = j.checkout(member, card, 1000, earned=10)
    t.push(j.events)
    edited = seal(
        {**sale, "points_earned": 1000, "lots": [{**sale["lots"][0], "points": 1000}]},
        sale["prev_hash"],
    )

    out = t.push([edited])

    assert statuses(out) == ["rejected:conflict"]
    assert ledger.member(member)["balance"] == 10


def test_an_event_edited_before_its_push_breaks_the_chain(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    j.checkout(member, card, 1000, earned=10)
    j.checkout(member, card, 1000, earned=10)
    j.events[1] = {**j.events[1], "points_earned": 5000}  # hash no longer matches

    out = t.push(j.events)

    assert statuses(out) == ["accepted", "rejected:chain", "rejected:gap"]
    assert out["head"]["seq"] == 1
    assert ledger.member(member)["balance"] == 0


def test_a_deleted_event_is_a_gap_and_nothing_after_it_applies_until_it_comes(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    j.checkout(member, card, 1000, earned=10)
    j.checkout(member, card, 2000, earned=20)
    j.checkout(member, card, 3000, earned=30)
    t.push(j.events[:2])

    gap = t.push(j.events[3:])
    assert statuses(gap) == ["rejected:gap"]
    assert ledger.member(member)["balance"] == 10

    filled = t.push(j.events[2:])
    assert statuses(filled) == ["accepted", "accepted"]
    assert ledger.member(member)["balance"] == 60


def test_a_truncated_journal_is_caught_at_the_next_push(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    j.checkout(member, card, 1000, earned=10)
    j.checkout(member, card, 1000, earned=10)
    t.push(j.events)
    # The terminal is restored from a backup taken after seq 1 and carries on from there.
    restored = Journal(t.terminal_id, seq=1, head=j.events[0]["hash"])
    restored.checkout(member, card, 7000, earned=70)

    out = t.push(restored.events)

    assert statuses(out) == ["rejected:chain"]
    assert "truncated" in out["results"][0]["message"]
    assert out["head"] == {"seq": 3, "hash": j.head}
    assert ledger.member(member)["balance"] == 20


def test_a_broken_prev_hash_is_rejected_as_chain(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    t.push(j.events)
    bad = seal({**j.checkout(member, card, 1000, earned=10)}, "f" * 64)

    out = t.push([bad])

    assert statuses(out) == ["rejected:chain"]
    assert bad["hash"] == chain_hash("f" * 64, bad)


def test_invalid_events_are_rejected_one_by_one_and_the_chain_goes_on(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    j.checkout(
        member, card, 1000, earned=10, lines=[{"sku": "X", "qty": -2, "unit_price_minor": 500}]
    )
    j.add("teleport", member_id=member)
    j.checkout(member, card, 1000, earned=10**15)
    j.checkout("M-nobody", None, 1000, earned=10)
    j.checkout(member, card, 1000, earned=10)

    out = t.push(j.events)

    assert statuses(out) == ["accepted"] + ["rejected:invalid"] * 4 + ["accepted"]
    assert "qty" in out["results"][1]["message"]
    assert "teleport" in out["results"][2]["message"]
    assert "unknown member" in out["results"][4]["message"]
    assert out["head"]["seq"] == 6
    assert ledger.member(member)["balance"] == 10
    again = t.push(j.events[1:2])
    assert again["results"][0]["status"] == "rejected"
    assert again["results"][0]["duplicate"] is True


def test_the_lots_a_sale_spent_or_a_refund_takes_back_may_not_exceed_its_points(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    member, card = new_ids()
    j = t.journal
    j.enroll(member, card)
    j.checkout(member, card, 5000, earned=50)
    lot = {"points": 30, "earned_at": "2026-01-10", "expires_at": "2027-01-10"}
    j.checkout(member, card, 1000, redeemed=20, value_minor=200, spent=[lot])
    sale = j.checkout(member, card, 1000, redeemed=30, value_minor=300, spent=[lot])
    refund = {
        "member_id": member,
        "receipt_id": "R",
        "original_receipt_id": sale["receipt_id"],
        "currency": "EUR",
        "refund_minor": 700,
    }
    j.add("refund", **refund, points_reversed=5, reversed_lots=[lot])
    j.add("refund", **refund, points_reversed=0, points_restored=30, lots=[lot])

    out = t.push(j.events)

    accepted, invalid = "accepted", "rejected:invalid"
    assert statuses(out) == [accepted, accepted, invalid, accepted, invalid, accepted]
    assert "spent" in out["results"][2]["message"]
    assert "reversed" in out["results"][4]["message"]
    assert ledger.member(member)["balance"] == 50  # 30 paid, 30 given back as they were
    # The ledger paid them from the first sale's lot (`spent` names a lot the member never had):
    # they come back to that lot, and nothing stays owed.
    back = ledger.member(member)
    assert [lot["points"] for lot in back["lots"]] == [50]
    assert (back["owed"], back["covered"]) == ([], [])


def test_an_event_of_another_terminal_inside_a_batch_is_invalid(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    other = Journal("SOMEONE-ELSE")
    other.enroll(*new_ids())

    out = t.push(other.events)

    assert statuses(out) == ["rejected:invalid"]


def test_a_stored_event_of_another_terminal_is_refused_not_answered_duplicate(
    ledger: LedgerServer,
) -> None:
    """QA: T1 pushing T2's stored event got "duplicate" and its ledger_seq back."""
    a, b = ledger.add_terminal(), ledger.add_terminal()
    a.journal.enroll(*new_ids())
    assert statuses(a.push(a.journal.events)) == ["accepted"]

    out = b.push(a.journal.events)

    assert statuses(out) == ["rejected:invalid"]
    assert out["results"][0].get("ledger_seq") is None
    assert f"event of terminal {a.terminal_id!r} pushed by {b.terminal_id}" in str(out)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"terminal_id": "X", "events": "nope"}, 400),
        ({"terminal_id": "X", "events": [1, 2]}, 400),
        ({"terminal_id": "bad id!", "events": []}, 400),
        ({"terminal_id": "X", "events": [{}] * 1001}, 400),
        ({"terminal_id": "X", "events": [], "surplus": 1}, 400),
    ],
)
def test_malformed_push_requests_are_400(ledger: LedgerServer, body: dict, status: int) -> None:
    t = ledger.add_terminal()
    body = {**body, "terminal_id": t.terminal_id} if body["terminal_id"] == "X" else body
    r = t.http.post("/v1/sync/push", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == "invalid"


def test_bad_json_and_huge_bodies_are_refused_without_a_500(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    r = t.http.post(
        "/v1/sync/push", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    deep = b"[" * 100_000 + b"]" * 100_000
    r = t.http.post("/v1/sync/push", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = t.http.post(
        "/v1/sync/push",
        content=b"x" * (17 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    huge = {"terminal_id": t.terminal_id, "events": [], "sent_at": "2026-01-01T00:00:00+00:00"}
    assert t.http.post("/v1/sync/push", json=huge).status_code == 200
    r = t.http.get("/v1/sync/pull", params={"since": 10**30})
    assert r.status_code == 400


def test_an_event_id_reused_by_another_terminal_is_a_conflict(ledger: LedgerServer) -> None:
    a, b = ledger.add_terminal(), ledger.add_terminal()
    member, card = new_ids()
    first = a.journal.enroll(member, card)
    a.push(a.journal.events)
    copycat = Journal(b.terminal_id)
    copycat.add(
        "checkout",
        **{
            k: v
            for k, v in first.items()
            if k
            not in (
                "event_id",
                "terminal_id",
                "seq",
                "type",
                "occurred_at",
                "program_version",
                "prev_hash",
                "hash",
            )
        },
    )
    forged = seal(
        {**copycat.events[0], "event_id": first["event_id"], "type": "enroll"},
        copycat.events[0]["prev_hash"],
    )

    out = b.push([forged])

    assert statuses(out) == ["rejected:conflict"]
    assert out["head"]["seq"] == 0
    b.journal.enroll(*new_ids())
    assert statuses(b.push(b.journal.events)) == ["accepted"]


def test_concurrent_pushes_from_many_terminals_keep_the_books(ledger: LedgerServer) -> None:
    import random
    from concurrent.futures import ThreadPoolExecutor

    setup = ledger.add_terminal()
    people = [new_ids() for _ in range(6)]
    for member, card in people:
        setup.journal.enroll(member, card)
        setup.journal.checkout(member, card, 10_000, earned=1000)
    setup.push(setup.journal.events)
    terminals = [ledger.add_terminal() for _ in range(4)]
    expected = {member: 1000 for member, _ in people}
    rng = random.Random(7)
    for t in terminals:
        for _ in range(60):
            member, card = rng.choice(people)
            t.journal.checkout(member, card, 1000, earned=10, redeemed=3, value_minor=3)
            expected[member] += 7

    def push_all(t: object) -> list[str]:
        done: list[str] = []
        for i in range(0, 60, 20):
            done += statuses(t.push(t.journal.events[i : i + 20]))  # type: ignore[attr-defined]
        return done

    with ThreadPoolExecutor(len(terminals)) as pool:
        outcomes = list(pool.map(push_all, terminals))

    assert all(set(o) == {"accepted"} for o in outcomes)
    for member, _ in people:
        view = ledger.member(member)
        assert view["balance"] == view["ledger_balance"] == expected[member]
    assert_books_balance(ledger)
