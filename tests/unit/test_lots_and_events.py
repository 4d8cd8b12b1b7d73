"""Lots (first-to-expire spending, expiry, debt) and the hash chain."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from loyalty_pos.domain.accounting import tier_spend_minor
from loyalty_pos.domain.events import (
    GENESIS_HASH,
    canonical_text,
    chain_hash,
    email_problem,
    is_blank,
    receipt_id,
    receipt_seq,
    seal,
    seal_text,
    text_problem,
    verify_chain,
)
from loyalty_pos.domain.lots import Account, Lot
from loyalty_pos.tui.router import is_receipt_id

D1 = date(2026, 1, 1)


def test_spending_takes_from_the_lot_that_expires_first() -> None:
    account = Account(
        (Lot(100, D1, date(2027, 1, 1)), Lot(50, D1, date(2026, 3, 1)), Lot(30, D1, None))
    )
    after = account.take(70, date(2026, 2, 1), allow_debt=False)
    assert sorted((lot.points, lot.expires_at) for lot in after.lots if lot.expires_at) == [
        (80, date(2027, 1, 1))
    ]
    assert after.balance(date(2026, 2, 1)) == 110


def test_expired_points_leave_the_balance_on_their_date() -> None:
    account = Account((Lot(100, D1, date(2026, 6, 1)), Lot(5, D1, None)))
    assert account.balance(date(2026, 5, 31)) == 105
    assert account.balance(date(2026, 6, 1)) == 5
    assert account.next_expiring(date(2026, 5, 1)) == Lot(100, D1, date(2026, 6, 1))


def test_taking_back_more_than_the_balance_becomes_debt_and_earning_pays_it_first() -> None:
    account = Account((Lot(10, D1, None),)).take(25, D1, allow_debt=True)
    assert account.balance(D1) == -15
    account = account.earn([Lot(20, D1, None)])
    assert account.balance(D1) == 5
    assert account.debt == 0


def test_taking_back_a_sales_points_takes_its_own_lot_first_then_first_to_expire_then_debt() -> (
    None
):
    old, sale_lot = Lot(100, D1, date(2026, 3, 1)), Lot(40, date(2026, 2, 1), date(2027, 2, 1))
    account = Account((old, sale_lot))
    after = account.take(30, date(2026, 2, 2), allow_debt=True, prefer=[Lot(30, *_dates(sale_lot))])
    assert after.lots == (old, Lot(10, *_dates(sale_lot)))
    # the sale's lot has 10 left: the rest comes from the other lots first-to-expire, then debt
    after = after.take(150, date(2026, 2, 2), allow_debt=True, prefer=[Lot(50, *_dates(sale_lot))])
    assert (after.lots, after.debt) == ((), 40)


def _dates(lot: Lot) -> tuple[date, date | None]:
    return lot.earned_at, lot.expires_at


@given(
    st.lists(st.tuples(st.integers(1, 500), st.integers(0, 400)), max_size=8), st.integers(0, 4000)
)
def test_spendable_balance_is_the_sum_of_live_lots(lots: list[tuple[int, int]], take: int) -> None:
    on = date(2026, 6, 1)
    account = Account(
        tuple(Lot(p, D1, date.fromordinal(D1.toordinal() + d) if d else None) for p, d in lots)
    )
    live = sum(lot.points for lot in account.lots if lot.live_on(on))
    assert account.balance(on) == live
    after = account.take(min(take, live), on, allow_debt=False)
    assert after.balance(on) == live - min(take, live)
    assert all(lot.points > 0 for lot in after.lots)


def _chain(n: int) -> list[dict[str, object]]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        event = seal({"seq": seq, "type": "adjust", "points": seq, "note": "é"}, prev)
        prev = str(event["hash"])
        events.append(event)
    return events


def test_a_sound_chain_verifies() -> None:
    assert verify_chain(_chain(5)) == []


def test_any_edit_deletion_or_reordering_is_detected() -> None:
    edited = _chain(5)
    edited[2] = {**edited[2], "points": 999}
    assert any("hash does not match" in p for p in verify_chain(edited))
    deleted = _chain(5)
    del deleted[1]
    assert verify_chain(deleted)
    swapped = _chain(5)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    assert verify_chain(swapped)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.dictionaries(st.text(max_size=10), _json_values, max_size=8),
    st.sampled_from(["0" * 64, "ab" * 32]),
)
def test_seal_text_is_the_sealed_events_canonical_text(event: dict[str, object], prev: str) -> None:
    """The one-encode sealing gives what sealing and encoding apart give, for any keys (some
    sorting before "hash", some after, an event's own stale "hash" dropped)."""
    sealed, text = seal_text(event, prev)
    assert sealed == seal(event, prev)
    assert sealed["hash"] == chain_hash(prev, sealed)
    assert text == canonical_text(sealed)
    assert json.loads(text) == sealed


@given(
    terminal=st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True),
    seq=st.integers(1, 10**18 - 1),
)
def test_a_receipt_id_gives_back_its_seq_and_is_recognised_when_scanned(terminal, seq) -> None:
    made = receipt_id(terminal, seq)
    assert receipt_seq(made) == seq
    assert is_receipt_id(made)  # past seq 999,999 too (seven digits and more)


def test_what_is_not_a_receipt_id_has_no_seq() -> None:
    assert receipt_id("T1", 17) == "T1-000017"
    for text in (
        "T1",
        "T1-",
        "T1-12345",
        "T1-00001x",
        "T1-" + "1" * 19,
        "T1-" + "\u0661" * 6,
        "000017",
    ):
        assert receipt_seq(text) is None, text


def test_tier_spend_of_an_event_is_money_due_less_money_back_for_members_only() -> None:
    assert tier_spend_minor({"type": "checkout", "member_id": "M1", "due_minor": 995}) == 995
    assert tier_spend_minor({"type": "refund", "member_id": "M1", "refund_minor": 300}) == -300
    assert tier_spend_minor({"type": "checkout", "member_id": None, "due_minor": 995}) == 0
    assert tier_spend_minor({"type": "adjust", "member_id": "M1", "points": 50}) == 0


def test_bidi_controls_are_refused_in_text_but_joiners_inside_text_are_not() -> None:
    # "Trojan source": an override or isolate shows the text in another order than it is stored.
    for control in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        problem = text_problem(f"ab{control}cd", 200, "the reason")
        assert problem == (
            f"the reason holds a control character (U+{ord(control):04X} at position 3); "
            "only printable text is taken"
        )
    # Scripts and emoji need the zero-width (non-)joiner inside a word; a bidi mark is fine too.
    for fine in ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "👩\u200d💻", "a\u200eb"):
        assert text_problem(fine, 200, "name") is None


def test_text_of_only_whitespace_and_zero_width_characters_is_blank() -> None:
    for blank in ("", "   ", "\u200b", " \u200b\u200c\u200d\u2060\ufeff\u3000 "):
        assert is_blank(blank), repr(blank)
    for visible in ("x", "\u200bx", "👩\u200d💻", "."):
        assert not is_blank(visible), repr(visible)


def test_an_email_needs_a_name_an_at_and_a_domain_with_a_dot() -> None:
    """QA: `zoe@example` was enrolled; mail to it cannot arrive."""
    for fine in ("zoe@example.com", "ann.lee+shop@mail.example.co.uk", "mateo.garcía@example.org"):
        assert email_problem(fine) is None, fine
    assert email_problem("zoe@example") == (
        "email 'zoe@example' is not an email address: its domain 'example' has no dot "
        "(name@example.org)"
    )
    for bad, why in [
        ("zoe", "one @"),
        ("zoe@@example.org", "one @"),
        ("zoe@ann@example.org", "one @"),
        ("@example.org", "no name before the @"),
        ("zoe@", "no domain after the @"),
        ("zoe@example.", "is not a domain name"),
        ("zoe@.example.org", "is not a domain name"),
        ("zoe@example..org", "is not a domain name"),
        ("zoe @example.org", "holds a space"),
    ]:
        problem = email_problem(bad)
        assert problem is not None and why in problem, bad
