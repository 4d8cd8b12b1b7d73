"""How the writer sends a column to PostgreSQL (``db._array_literal``): as an array literal only
when the literal is exactly the values, else as the values themselves (a binary array)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_pos.ledger.db import _array_literal


def _read_literal(literal: str) -> list[Any]:
    """What PostgreSQL reads from the literals the writer makes (no escapes in them)."""
    inner = literal[1:-1]
    if inner.startswith('"'):
        return inner[1:-1].split('","')
    return [None if item == "NULL" else int(item) for item in inner.split(",")]


def _sent_as(values: Sequence[Any], kind: str) -> list[Any]:
    sent = _array_literal(values, kind)
    if isinstance(sent, str):
        assert _read_literal(sent) == list(values)
    else:
        assert sent == list(values)
    return [isinstance(sent, str)]


@pytest.mark.parametrize(
    ("values", "kind", "literal"),
    [
        ([1, 2, -3], "bigint", True),
        ([1, True], "bigint", False),
        ([True, False], "bigint", False),
        ([None, None], "bigint", True),
        ([None, None], "text", True),
        ([1, None], "bigint", False),
        (["a", None], "text", False),
        (["a", "b c", "{x,y}", "NULL", ""], "text", True),
        (['a"b', "c"], "text", False),
        (["a", 'c"'], "text", False),
        (["a", "b\\c"], "text", False),
        (['{"k":1}'], "text", False),
        (["1", "2"], "bigint", False),
        ([1, 2], "text", False),
        ([2**70], "bigint", True),
    ],
)
def test_a_column_goes_as_a_literal_only_when_it_reads_back_as_sent(
    values: list[Any], kind: str, literal: bool
) -> None:
    assert _sent_as(values, kind) == [literal]


@given(
    values=st.lists(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)), min_size=1
    )
    | st.lists(st.integers(), min_size=1)
    | st.lists(st.text(alphabet='ab",\\{} N', max_size=6), min_size=1),
    kind=st.sampled_from(["bigint", "text"]),
)
def test_any_column_is_sent_as_it_is(values: list[Any], kind: str) -> None:
    _sent_as(values, kind)
