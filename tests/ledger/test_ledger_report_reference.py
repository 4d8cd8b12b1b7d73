"""The ledger's summary against the plain reference of the report's figures
(``tests/unit/reference_metrics``), on both databases: a till's random history of months, clock
changes included, pushed to the ledger as a sync pushes it, then the figures of random periods
compared, in the ledger's days (UTC)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from loyalty_pos.bootstrap import init_terminal
from loyalty_pos.imports import import_catalog
from loyalty_pos.ledger.store import LedgerStore
from tests.support.histories import NEW_CARDS, SPAN_DAYS, histories, record
from tests.unit import reference_metrics as ref

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "config/program.example.toml"


def _pct(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(Decimal(text))


def differences(there: dict[str, Any], model: ref.Figures, booked: dict[str, int]) -> list[str]:
    """Every figure of the ledger's summary that the reference says otherwise, named."""
    points, checkouts, members = there["points"], there["checkouts"], there["members"]
    owed = there["outstanding"]
    refunds = sum(row["refunds"] for row in there["terminals"])
    refunded = sum(row["refunded_minor"] for row in there["terminals"])
    negatives = sorted(m for m, b in booked.items() if b < 0)
    pairs: list[tuple[str, Any, Any]] = [
        ("issued", points["issued"], model.issued),
        ("redeemed", points["redeemed"], model.redeemed),
        ("adjusted", points["adjusted"], model.adjusted),
        ("checkouts", checkouts["all"], model.checkouts),
        ("with_card", checkouts["with_card"], model.checkouts_with_card),
        ("engagement_pct", _pct(checkouts["engagement_pct"]), model.engagement_pct),
        ("refunds", refunds, model.refunds),
        ("refunded_minor", refunded, model.refunded_minor),
        ("redemption_rate_pct", _pct(there["redemption_rate_pct"]), model.redemption_rate_pct),
        ("redemption_rate_note", there["redemption_rate_note"], model.redemption_rate_note),
        ("average_check_minor", there["average_check_minor"], model.average_check_minor),
        (
            "average_check_all_minor",
            there["average_check_all_minor"],
            model.average_check_all_minor,
        ),
        ("repeat_purchases", _pct(there["repeat_purchases"]), model.repeat_purchases),
        (
            "average_lifetime_days",
            _pct(there["average_lifetime_days"]),
            model.average_lifetime_days,
        ),
        (
            "average_lifetime_periods",
            _pct(there["average_lifetime_periods"]),
            model.average_lifetime_periods,
        ),
        ("ltv_minor", there["ltv_minor"], model.ltv_minor),
        ("active_at_start", members["active_at_start"], len(model.active_start)),
        ("active_at_end", members["active_at_end"], len(model.active_end)),
        ("new", members["new"], len(model.new)),
        ("kept", members["kept"], len(model.kept)),
        ("retention_pct", _pct(members["retention_pct"]), model.retention_pct),
        ("churn_pct", _pct(members["churn_pct"]), model.churn_pct),
        # no expiry run: the booked balances, lapsed lots counted
        ("outstanding", owed["points"], sum(booked.values())),
        ("positive_balances", owed["positive_balances"], sum(b for b in booked.values() if b > 0)),
        ("debt", owed["debt"], -sum(b for b in booked.values() if b < 0)),
        (
            "negative_balances",
            sorted(n["member_id"] for n in there["negative_balances"]),
            negatives,
        ),
        ("expired", points["expired"], 0),
    ]
    return [f"{name}: ledger {a!r}, reference {b!r}" for name, a, b in pairs if a != b]


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=histories(pool=tuple(NEW_CARDS)))
def test_the_ledgers_summary_says_what_the_reference_says(
    history, backend, databases, tmp_path_factory
) -> None:
    """Members enrolled at a till buy, pay with points, return goods and are adjusted over four
    months; the till's journal reaches the ledger; every figure of the ledger's summary of a
    day, a week, a month or more, in UTC days, is the reference's."""
    first = history["first"]
    after = datetime.combine(first + timedelta(days=SPAN_DAYS + 100), time(12), UTC)
    ledger = LedgerStore.open(databases.new(backend), clock=lambda: after)
    t = init_terminal(tmp_path_factory.mktemp("till") / "t1", "T1", PROGRAM, "1234")
    try:
        import_catalog(t, ROOT / "config/demo/catalog.csv")
        t.clock = lambda: after
        ledger.put_program(tomllib.loads(PROGRAM.read_text()))
        ledger.add_terminal("T1")
        told = record(t, history["ops"])
        journal = list(t.store.events())
        if journal:
            outcome = ledger.push("T1", journal)
            assert {r.status for r in outcome.results} == {"accepted"}, outcome.results
        for a, b in history["periods"]:
            start = datetime.combine(a, time(), UTC)
            end = datetime.combine(b + timedelta(days=1), time(), UTC)
            there = ledger.report(start, end)
            model = ref.report(told, a, b, UTC, points_per_unit=100)
            problems = differences(there, model, ref.booked_balances(told, end))
            assert not problems, f"{a} to {b}: " + "; ".join(problems)
    finally:
        t.store.close()
        ledger.close()
