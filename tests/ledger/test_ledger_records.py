"""A member record as the ledger stores it (``MemberRecord.to_state``): compact JSON with sorted
keys, its cards as arrays, the same text whichever encoder writes it, read back as it was."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_pos.domain.lots import Account, Lot
from loyalty_pos.ledger.posting import MemberRecord


def _as_before(record: MemberRecord) -> str:
    """The stored text as the ledger has always written it: lists, dicts, the standard library."""
    return json.dumps(
        {
            "member_id": record.member_id,
            "name": record.name,
            "email": record.email,
            "phone": record.phone,
            "birthday": record.birthday,
            "status": record.status,
            "cards": [list(c) for c in record.cards],
            "lots": [lot.to_json() for lot in record.account.lots],
            "debt": record.account.debt,
            "punch": dict(record.punch),
            "last_birthday_bonus": record.last_birthday_bonus,
            "counted_through": dict(record.counted_through),
            "enrolled_at": record.enrolled_at,
            "enrolled_us": record.enrolled_us,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def test_a_new_record_is_stored_with_empty_counters() -> None:
    record = MemberRecord("M1")
    assert record.to_state() == _as_before(record)
    assert json.loads(record.to_state())["punch"] == {}
    assert MemberRecord.from_state(record.to_state()) == record


@pytest.mark.parametrize("enrolled_us", [0, 1_764_000_000_000_000, 2**70])
def test_a_record_is_stored_as_it_always_was(enrolled_us: int) -> None:
    # 2**70: past what orjson writes, so the domain's encoder writes the text
    record = MemberRecord(
        "M1",
        name="Zoë \u2028",
        cards=(("04A1", "active"), ("04B2", "blocked")),
        account=Account((Lot(150, date(2026, 1, 10), date(2027, 1, 10)),), 20),
        punch={"COFFEE": 4},
        counted_through={"T1": 17},
        enrolled_us=enrolled_us,
    )
    assert record.to_state() == _as_before(record)
    assert MemberRecord.from_state(record.to_state()) == record
    assert record.balance == 130


def test_two_standing_birthday_bonuses_of_a_day_are_stored_and_read_back() -> None:
    """Two offline tills each gave the bonus: both days are kept (one is the last bonus, as
    always); a record with one bonus, or none, is stored as it always was."""
    two = MemberRecord(
        "M1", last_birthday_bonus="2026-12-06", bonus_days=("2026-12-06", "2026-12-06")
    )
    assert json.loads(two.to_state())["bonus_days"] == ["2026-12-06", "2026-12-06"]
    assert MemberRecord.from_state(two.to_state()) == two
    one = two._replace(bonus_days=("2026-12-06",))
    assert one.to_state() == _as_before(one)
    assert MemberRecord.from_state(one.to_state()) == one


texts = st.text(max_size=12)
counts = st.dictionaries(texts, st.integers(0, 10**9), max_size=3)


@given(
    member_id=texts,
    cards=st.lists(st.tuples(texts, st.sampled_from(["active", "blocked"])), max_size=3),
    points=st.lists(st.integers(1, 10**6), max_size=3),
    debt=st.integers(0, 10**6),
    punch=counts,
    counted=counts,
)
def test_any_record_is_stored_as_it_always_was(
    member_id: str, cards: list[Any], points: list[int], debt: int, punch: Any, counted: Any
) -> None:
    lots = tuple(Lot(p, date(2026, 1, 1 + i), None) for i, p in enumerate(points))
    record = MemberRecord(
        member_id,
        cards=tuple(cards),
        account=Account(lots, debt),
        punch=punch,
        counted_through=counted,
    )
    assert record.to_state() == _as_before(record)
    assert record.balance == sum(points) - debt
