"""The fast canonical JSON (``loyalty_pos.canonical``) writes and reads exactly what the domain's
standard-library definition does, so a chain sealed with one verifies with the other."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_pos import canonical
from loyalty_pos.domain import events
from loyalty_pos.store.db import new_event_id

#: JSON values as events hold them, and then some: any text (controls, quotes, backslashes,
#: U+2028, astral characters), integers past 64 bits (orjson refuses those: the domain's encoder
#: takes over), deep nesting.
TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30,
)


def reference_dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=400)
@given(st.dictionaries(TEXT, VALUES, max_size=8))
def test_the_fast_text_is_the_domain_s_text(event: dict[str, Any]) -> None:
    assert canonical.canonical_text(event) == events.canonical_text(event)


@settings(max_examples=300)
@given(VALUES)
def test_dumps_and_loads_agree_with_the_standard_library(value: Any) -> None:
    text = canonical.dumps(value)
    assert text == reference_dumps(value)
    assert canonical.loads(text) == json.loads(text) == value


@settings(max_examples=200)
@given(
    st.dictionaries(TEXT, VALUES, max_size=8), st.text("0123456789abcdef", min_size=64, max_size=64)
)
def test_an_event_sealed_fast_has_the_domain_s_hash_and_text(
    event: dict[str, Any], prev_hash: str
) -> None:
    fast = events.seal_text(event, prev_hash, canonical.canonical_text)
    assert fast == events.seal_text(event, prev_hash)
    sealed, text = fast
    assert events.chain_hash(prev_hash, sealed) == sealed["hash"]
    assert json.loads(text) == sealed


@settings(max_examples=200)
@given(
    st.dictionaries(st.sampled_from(["hash", "prev_hash", "a", "z"]) | TEXT, VALUES, max_size=8),
    st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_the_fast_seal_gives_the_domain_s_sealed_event_and_text(
    event: dict[str, Any], prev_hash: str
) -> None:
    """``canonical.seal_text`` (the event written once around a placeholder for the hash) is the
    domain's ``seal_text`` (written once in halves), key order of the sealed event included; an
    event's own "hash" is dropped."""
    sealed, text = canonical.seal_text(event, prev_hash)
    reference_sealed, reference_text = events.seal_text(event, prev_hash)
    assert text == reference_text
    assert list(sealed.items()) == list(reference_sealed.items())


@pytest.mark.parametrize(
    "event",
    [
        {"a": {"hash": canonical._PLACEHOLDER}, "z": 1},
        {"z": [{"hash": canonical._PLACEHOLDER}]},
        {"a": f'"hash":"{canonical._PLACEHOLDER}"', "hash": canonical._PLACEHOLDER},
        {},
        {"a": 1},
        {"zz": 1},
    ],
)
def test_an_event_holding_the_seal_s_placeholder_is_sealed_as_the_domain_seals_it(
    event: dict[str, Any],
) -> None:
    """Only the top-level "hash" member is taken for the placeholder's: a nested one holding the
    same text leaves the sealing to the domain's encoder, with the same result."""
    prev_hash = "ab" * 32
    sealed, text = canonical.seal_text(event, prev_hash)
    assert (sealed, text) == events.seal_text(event, prev_hash)
    assert list(sealed) == list(events.seal_text(event, prev_hash)[0])
    assert events.chain_hash(prev_hash, sealed) == sealed["hash"]


def test_what_orjson_would_write_its_own_way_goes_to_the_domain_s_encoder() -> None:
    # Keys that are not text: the standard library writes them as text, orjson refuses them.
    assert canonical.canonical_text({"punch": {1: 2}}) == '{"punch":{"1":2}}'
    # Dates: orjson would write them, the standard library refuses them (a bug shows).
    with pytest.raises(TypeError):
        canonical.canonical_text({"at": datetime(2026, 1, 1)})
    # JSON the standard library reads and orjson does not (NaN) is still read.
    assert canonical.loads('{"x": NaN}')["x"] != canonical.loads('{"x": NaN}')["x"]


def test_a_stored_text_that_is_not_json_raises_the_standard_library_s_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        canonical.loads("{not json")


def test_an_event_id_is_a_random_uuid_written_as_uuid_writes_it() -> None:
    """``new_event_id`` (a sale's event id, written without ``uuid.UUID``) is a version 4 UUID
    in ``str(uuid.uuid4())``'s form, and a new one each time."""
    ids = {new_event_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
