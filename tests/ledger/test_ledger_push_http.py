"""A push's fast edges: its request parser (``models.parse_push``) answers exactly as pydantic's
own ``PushRequest.model_validate_json`` (the same request, or the same errors, for any body), and
its answer is the text ``JSONResponse`` writes, also where orjson cannot write it."""

from __future__ import annotations

import json

import pytest
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from loyalty_pos.ledger import models as m
from loyalty_pos.ledger.api import push_answer
from loyalty_pos.ledger.store import EventResult, PushOutcome

EVENT = '{"event_id": "e1", "seq": 1, "n": %s}'


def _outcome(parse, body: bytes) -> tuple[str, object]:
    try:
        request = parse(body)
    except ValidationError as e:
        return "error", e.errors(include_url=False)
    return "ok", (request.model_dump(), sorted(request.model_fields_set))


def _same(body: bytes) -> tuple[str, object]:
    fast = _outcome(m.parse_push, body)
    # compared as text: NaN, which pydantic reads, is not equal to itself
    assert repr(fast) == repr(_outcome(m.PushRequest.model_validate_json, body))
    return fast


def _push(*events: str, **head: str) -> bytes:
    fields = {"terminal_id": '"T1"', **head}
    text = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    listed = ", ".join(events)
    return f'{{{text}, "events": [{listed}]}}'.encode()


@pytest.mark.parametrize(
    "body",
    [
        _push(EVENT % "1"),
        _push(),
        _push(EVENT % "1", sent_at='"2026-11-24T09:08:00+00:00"'),
        _push(EVENT % "1", sent_at="null"),
        _push(EVENT % "1", sent_at='"2026-11-24T09:08:00"'),  # no offset: refused
        _push(EVENT % "1", sent_at="1764000000"),
        _push(EVENT % "1", sent_at="true"),
        _push(EVENT % "1", extra='"x"'),
        _push(EVENT % "1", terminal_id='"T1\\n"'),
        _push(EVENT % "1", terminal_id='"' + "T" * 33 + '"'),
        _push(EVENT % "1", terminal_id="7"),
        _push("[1]"),
        _push("1", EVENT % "1"),
        _push(*[EVENT % i for i in range(1001)]),
        _push(*[EVENT % i for i in range(1000)]),
        _push(EVENT % "123456789012345678901234567890"),
        _push(EVENT % "-9223372036854775809"),
        _push(EVENT % "NaN"),
        _push(EVENT % "Infinity"),
        _push(EVENT % "1e400"),
        _push(EVENT % "1.5e-400"),
        _push(EVENT % "1e16"),
        _push(EVENT % "-0"),
        _push(EVENT % '"\\ud800"'),
        _push(EVENT % '"\\u0000"'),
        _push(EVENT % '"caf\\u00e9 \\ud83d\\ude00"'),
        _push('{"a": 1, "a": 2}'),
        b'{"terminal_id": "T1", "terminal_id": "T2", "events": []}',
        b'{"terminal_id": "T1", "events": [{"a": 1}], "events": 5}',
        b'{"terminal_id": "T1", "events": 5, "events": [{"a": 1}]}',
        b'{"terminal_id": "T1"}',
        b'{"events": []}',
        b"[]",
        b"null",
        b"",
        b"{",
        b'\xef\xbb\xbf{"terminal_id": "T1", "events": []}',
        b'{"terminal_id": "T1", "events": [{"a": "\xff"}]}',
        _push(EVENT % "1") + b" \n",
        _push(EVENT % "1") + b" x",
    ],
)
def test_push_requests_parse_as_pydantic_reads_them(body: bytes) -> None:
    _same(body)


@pytest.mark.parametrize("depth", [150, 195, 196, 197, 198, 199, 200, 201, 300, 2000])
def test_deeply_nested_events_are_refused_or_read_as_before(depth: int) -> None:
    # pydantic's JSON parser has a nesting limit (a 400 for the whole request); a parser with
    # another limit would let such a request through
    _same(_push(EVENT % ("[" * depth + "]" * depth)))
    _same(_push('{"x": %s}' % ('{"y": ' * depth + "1" + "}" * depth)))


def test_a_terminals_push_is_read_without_pydantics_json_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _push(EVENT % "1", EVENT % "2", sent_at='"2026-11-24T09:08:00+00:00"')
    expected = m.PushRequest.model_validate_json(body)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fast path was not taken")

    monkeypatch.setattr(m.PushRequest, "model_validate_json", refuse)
    request = m.parse_push(body)
    assert request == expected
    assert request.terminal_id == "T1"
    assert request.sent_at is not None and request.sent_at.utcoffset() is not None
    assert [e["n"] for e in request.events] == [1, 2]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    head=st.dictionaries(
        st.sampled_from(["terminal_id", "sent_at", "other"]),
        json_values | st.sampled_from(["T1", "2026-11-24T09:08:00Z", "bad id"]),
    ),
    events=json_values | st.lists(st.dictionaries(st.text(), json_values, max_size=5)),
)
def test_any_json_push_parses_as_pydantic_reads_it(head: dict, events: object) -> None:
    _same(json.dumps({**head, "events": events}).encode())


def _answer_as_json_response_writes_it(outcome: PushOutcome) -> None:
    answer = push_answer(outcome)
    assert answer.media_type == "application/json"
    expected = JSONResponse(
        {
            "results": [r.to_json() for r in outcome.results],
            "head": {"seq": outcome.head_seq, "hash": outcome.head_hash},
        }
    )
    assert answer.body == expected.body
    assert answer.headers["content-type"] == expected.headers["content-type"]


def test_a_push_is_answered_with_the_text_json_response_writes() -> None:
    _answer_as_json_response_writes_it(
        PushOutcome(
            (
                EventResult("e1", "accepted", None, None, 17),
                EventResult("e2", "duplicate", None, None, 9, True),
                EventResult("e3", "rejected", "invalid", 'unknown member Zoë \x1b\n"😀\u2028', 18),
                EventResult(None, "rejected", "invalid", "event_id must be a UUID"),
            ),
            3,
            "ab" * 32,
        )
    )


def test_an_answer_orjson_cannot_write_is_written_by_the_standard_library() -> None:
    huge = 2**70  # past 64 bits: orjson refuses it
    _answer_as_json_response_writes_it(
        PushOutcome((EventResult("e1", "accepted", None, None, huge),), huge, "0" * 64)
    )
