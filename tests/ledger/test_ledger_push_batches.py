"""Large pushes: the ledger writes a batch while it is still working through it (on PostgreSQL
the events, transfers and member records go to the server a hundred events at a time), so the
outcomes of duplicates, broken chains, invalid events and reused ids deep inside a full batch,
and of a member changed early and again late in one, must be exactly those of a small push."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ledger_helpers import Journal, LedgerServer, assert_books_balance, new_ids, statuses

from loyalty_pos.domain.events import canonical_json, seal
from loyalty_pos.ledger import wire
from loyalty_pos.ledger.bench import journal
from loyalty_pos.ledger.posting import Book
from loyalty_pos.ledger.store import LedgerStore


def _people(j: Journal, n: int) -> list[tuple[str, str]]:
    people = [new_ids() for _ in range(n)]
    for member, card in people:
        j.enroll(member, card)
    return people


def _sales(j: Journal, people: list[tuple[str, str]], n: int) -> None:
    """``n`` sales of 10.00 (10 points each), to the enrolled people in turn."""
    for i in range(n):
        member, card = people[i % len(people)]
        j.checkout(member, card, 1000, earned=10)


def test_duplicates_an_invalid_event_and_a_broken_chain_deep_in_a_full_batch(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    j = t.journal
    people = _people(j, 10)
    _sales(j, people, 140)
    assert set(statuses(t.push(j.events))) == {"accepted"}
    pushed = len(j.events)

    for i in range(200):  # new events, with one invalid body among them
        member, card = people[i % 10]
        if i == 130:
            j.checkout("M-nobody", None, 1000, earned=10)
        else:
            j.checkout(member, card, 1000, earned=10, redeemed=2, value_minor=2)
    edited = dict(j.events[pushed + 170], total_minor=999_999)  # hash no longer matches
    reused = seal(  # a later event carrying the id of an event stored by the first push
        {**j.events[pushed + 180], "event_id": j.events[3]["event_id"]},
        j.events[pushed + 179]["hash"],
    )
    batch = (
        j.events[pushed - 20 : pushed]  # a resend of the end of the first push
        + j.events[pushed : pushed + 170]
        + [edited]
        + j.events[pushed + 171 : pushed + 180]
        + [reused]
        + j.events[pushed + 181 :]
    )

    out = t.push(batch)

    expected = (
        ["duplicate"] * 20
        + ["accepted"] * 130
        + ["rejected:invalid"]
        + ["accepted"] * 39
        + ["rejected:chain"]
        + ["rejected:gap"] * 9
        + ["rejected:conflict"]
        + ["rejected:gap"] * 19
    )
    assert statuses(out) == expected
    assert "unknown member" in out["results"][150]["message"]
    assert out["head"] == {"seq": pushed + 170, "hash": j.events[pushed + 169]["hash"]}
    dup_seqs = [r["ledger_seq"] for r in out["results"][:20]]
    assert dup_seqs == sorted(dup_seqs) and len(set(dup_seqs)) == 20
    for n, (member, _) in enumerate(people):
        accepted_here = sum(1 for i in range(170) if i != 130 and i % 10 == n)
        view = ledger.member(member)
        assert view["balance"] == view["ledger_balance"] == 140 + accepted_here * (10 - 2)
    assert_books_balance(ledger)

    # The terminal fixes its journal: the rest of the chain applies, once.
    rest = t.push(j.events[pushed + 170 :])
    assert statuses(rest) == ["accepted"] * 30
    assert t.push(j.events[pushed + 170 :])["results"][0]["status"] == "duplicate"
    assert_books_balance(ledger)


def test_an_id_of_another_terminal_late_in_a_full_batch_is_a_conflict(
    ledger: LedgerServer,
) -> None:
    a, b = ledger.add_terminal(), ledger.add_terminal()
    a.journal.enroll(*new_ids())
    assert statuses(a.push(a.journal.events)) == ["accepted"]
    top = ledger.top()
    j = b.journal
    people = _people(j, 5)
    _sales(j, people, 240)
    forged = seal(
        {**j.events[120], "event_id": a.journal.events[0]["event_id"]}, j.events[119]["hash"]
    )
    batch = [*j.events[:120], forged, *j.events[121:]]

    out = b.push(batch)

    assert statuses(out) == ["accepted"] * 120 + ["rejected:conflict"] + ["rejected:gap"] * 124
    assert out["head"]["seq"] == 120
    assert ledger.top() == top + 120  # nothing of the attempt the unique constraint stopped
    for member, _ in people:
        view = ledger.member(member)
        assert view["balance"] == view["ledger_balance"] == 230
    assert_books_balance(ledger)
    assert statuses(b.push(j.events[120:])) == ["accepted"] * 125


def test_a_member_changed_early_and_again_late_in_one_batch_keeps_its_last_record(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    j = t.journal
    since = ledger.top()
    (early, early_card), (busy, busy_card) = _people(j, 2)
    j.checkout(early, early_card, 1000, earned=100)
    for _ in range(200):  # ``early`` is not named again: its record goes to the server
        j.checkout(busy, busy_card, 1000, earned=1)
    j.checkout(None, early_card, 1000, earned=0, redeemed=30, value_minor=30)  # by card only
    j.add("card_link", member_id=busy, card=busy_card + "X")
    j.checkout(None, early_card, 1000, earned=5)

    out = t.push(j.events)

    assert set(statuses(out)) == {"accepted"}
    view = ledger.member(early)
    assert view["balance"] == view["ledger_balance"] == 100 - 30 + 5
    assert view["counted_through"] == {t.terminal_id: len(j.events)}
    assert ledger.member(busy)["cards"][-1] == {"card": busy_card + "X", "status": "active"}
    pulled = t.http.get("/v1/sync/pull", params={"since": since}).json()
    assert [m["member_id"] for m in pulled["members"]] == [busy, early]  # last change last
    assert pulled["members"][1]["balance"] == 75
    assert_books_balance(ledger)


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = LedgerStore.open(db_url)
    yield s
    s.close()


def test_members_read_in_the_middle_of_a_streamed_batch(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member the bulk preload did not bring is read inside the loop, after earlier events
    of the batch went to the server: the writer waits for them first."""
    store.add_terminal("T1")
    events = journal("T1", 600, members=50)
    assert {r.status for r in store.push("T1", events[:300]).results} == {"accepted"}
    store._records.check(-1)  # forget the cached records: every member is read again
    real = Book.preload

    def lazy(book: Book, member_ids: Any, cards: Any) -> None:
        member_ids, cards = list(member_ids), list(cards)
        if len(member_ids) + len(cards) == 1:  # a single read from inside the loop
            real(book, member_ids, cards)

    monkeypatch.setattr(Book, "preload", lazy)
    out = store.push("T1", events[300:])

    assert {r.status for r in out.results} == {"accepted"}
    audit = store.audit()
    assert audit["sum_of_balances"] == 0 and audit["members_mismatched"] == []
    assert audit["events"] == 600


def test_events_are_checked_as_the_push_reaches_them_and_unsound_ones_name_nobody(
    store: LedgerStore,
) -> None:
    """The push reads what a batch may need from the raw events before checking them (a
    member named by an event with an invalid body, a card of an event that turns out unsound):
    such an event changes nobody, and the members written early or late are the last ones."""
    store.add_terminal("T1")
    events = journal("T1", 400, members=20)
    assert {r.status for r in store.push("T1", events[:100]).results} == {"accepted"}
    batch = [dict(e) for e in events[100:]]
    hero = batch[150]["member_id"]
    other = {"member_id": batch[151]["member_id"], "card": batch[151]["card"]}
    for i in range(170, 300, 20):  # the hero's later checkouts go to someone else...
        batch[i] = {**batch[i], **other}
    # ...but for an invalid body naming the hero after their last change: their record is
    # written at the end of the push instead of with its hundred
    batch[250] = {**batch[250], "member_id": hero, "points_earned": 7}
    # an unsound envelope (bad event id) naming a card: rejected, and the chain stops there
    batch[290] = {**batch[290], "event_id": "not-a-uuid", "card": "BC-nobody"}
    head = events[99]["hash"]
    for i, e in enumerate(batch):
        batch[i] = seal(e, head)
        head = batch[i]["hash"]

    out = store.push("T1", batch)

    statuses = [r.status for r in out.results]
    assert statuses[:250] == ["accepted"] * 250 and statuses[251:290] == ["accepted"] * 39
    assert out.results[250].reason == "invalid" and out.results[290].reason == "invalid"
    assert {r.reason for r in out.results[291:]} == {"gap"}
    assert out.head_seq == 100 + 290
    audit = store.audit()
    assert audit["sum_of_balances"] == 0 and audit["members_mismatched"] == []
    assert audit["events"] == 100 + 290  # the unsound one is not stored
    view = store.member_view(hero)
    assert view["counted_through"] == {"T1": 100 + 151}
    applied = [
        e for e in events[:100] + batch[:250] if e["type"] == "checkout" and e["member_id"] == hero
    ]
    expected = sum(e["points_earned"] - e["points_redeemed"] for e in applied)
    assert len(applied) == 12 and view["balance"] == view["ledger_balance"] == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"event_id": "not-a-uuid", "seq": [[], ["x", 154], None]},
        {"event_id": 7, "terminal_id": {"a": 1}, "seq": {"b": 2}},
        {"event_id": None, "seq": True, "prev_hash": ["h"], "hash": {"h": 1}},
        {"seq": [1], "terminal_id": ["T1"]},
    ],
)
def test_an_envelope_malformed_in_several_fields_is_rejected_and_recorded(
    store: LedgerStore, fields: dict[str, Any]
) -> None:
    """Found by schemathesis: a bad event id together with a seq that was a list reached the
    rejections table as a list (a server error). Each chain field is now kept only when it is
    well formed."""
    store.add_terminal("T1")
    events = journal("T1", 3, members=1)
    bad = {**events[1], **fields}
    envelope = wire.Envelope.check(bad)
    assert envelope.problem
    assert envelope.seq is None or isinstance(envelope.seq, int)
    assert envelope.event_id is None or isinstance(envelope.event_id, str)
    assert envelope.terminal_id is None or isinstance(envelope.terminal_id, str)

    out = store.push("T1", [events[0], bad, events[2]])

    assert [r.status for r in out.results] == ["accepted", "rejected", "rejected"]
    assert out.results[1].reason == "invalid" and out.results[2].reason == "gap"
    assert store.push("T1", events[1:]).head_seq == 3  # the sound events still go in


def test_the_stored_body_is_the_canonical_json_the_hash_covers() -> None:
    event = {
        "event_id": str(uuid.uuid4()),
        "terminal_id": "T1",
        "seq": 1,
        "type": "checkout",
        "z": [{"b": 1, "a": 'é😀\n\t"\\/\u2028'}, None, True, 1.5, -0.0, 10**30],
        "a": {"y": {}, "x": []},
        "\u00e9": "key",
    }
    sealed = seal(event, "0" * 64)
    env = wire.Envelope.check(json.loads(json.dumps(sealed)))

    assert env.problem is None and env.hash_ok
    assert env.body.encode() == canonical_json({k: v for k, v in sealed.items() if k != "hash"})


@pytest.mark.parametrize("value", [1e16, 1.5e-7, float("nan"), float("-inf"), 0.1])
def test_an_event_holding_a_float_is_checked_against_the_domain_s_own_text(value: float) -> None:
    """The ledger writes an event's text through orjson, which writes some floats otherwise
    (``1e16`` for ``1e+16``, ``null`` for NaN); an event holding one is checked against the
    domain's text, as its terminal sealed it, and stored in it."""
    event = {"event_id": str(uuid.uuid4()), "terminal_id": "T1", "seq": 1, "x": value}
    sealed = seal(event, "0" * 64)
    env = wire.Envelope.check(json.loads(json.dumps(sealed)))

    assert env.problem is None and env.hash_ok
    assert env.body.encode() == canonical_json({k: v for k, v in sealed.items() if k != "hash"})


@pytest.mark.parametrize(
    "tag",
    ["plain", " {a},b NULL é ", 'with "quotes" and \\ backslash'],
    ids=["plain", "array-syntax", "quotes"],
)
def test_member_ids_and_cards_of_any_text_are_stored_as_sent(
    ledger: LedgerServer, tag: str
) -> None:
    t = ledger.add_terminal()
    j = t.journal
    suffix = uuid.uuid4().hex[:6]
    people = [(f"{tag} {i} {suffix}", f"{tag}/{i}/{suffix}") for i in range(3)]
    for member, card in people:
        j.enroll(member, card)
        j.checkout(member, card, 1000, earned=10)
    j.add(f"odd {tag}", member_id=people[0][0])  # an invalid event with a strange type

    out = t.push(j.events)

    assert statuses(out) == ["accepted"] * 6 + ["rejected:invalid"]
    for member, card in people:
        view = ledger.member(member)
        assert view["member_id"] == member and view["balance"] == 10
        assert view["cards"] == [{"card": card, "status": "active"}]
    assert_books_balance(ledger)
