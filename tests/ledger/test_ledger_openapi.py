"""Schemathesis against ``/openapi.json``: generated requests, valid and not, never get a 5xx and
always get the documented body. Bounded: ~30 examples per operation, no shrinking."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from ledger_helpers import ADMIN_TOKEN, LedgerServer, Terminal, program
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.generation import GenerationMode

BUDGET = settings(
    max_examples=30,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _exercise(operation: Any, terminal: Terminal, seen: dict[str, set[int]]) -> None:
    is_push = operation.path == "/v1/sync/push"
    token = terminal.token if is_push else ADMIN_TOKEN
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )

    @BUDGET
    @given(case=strategy)
    def call(case: Any) -> None:
        if is_push and isinstance(case.body, dict):
            case.body["terminal_id"] = terminal.terminal_id  # get past the 403 to the events
        response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        seen.setdefault(case.operation.label, set()).add(response.status_code)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    call()


def test_generated_requests_never_get_a_server_error(fresh_ledger: LedgerServer) -> None:
    ledger = fresh_ledger
    ledger.admin.put("/v1/program", json=program(1))
    terminal = ledger.add_terminal()
    terminal.journal.enroll("M1", "C1")
    terminal.push(terminal.journal.events)
    schema = schemathesis.openapi.from_url(ledger.base_url + "/openapi.json")
    seen: dict[str, set[int]] = {}

    for result in schema.get_all_operations():
        _exercise(result.ok(), terminal, seen)

    assert len(seen) >= 15
    assert all(code < 500 for codes in seen.values() for code in codes)
    assert 200 in seen["POST /v1/sync/push"]
    assert ledger.audit()["sum_of_balances"] == 0
