"""The end-of-day report against a plain reference of its figures (``tests/unit/reference_metrics``):
random histories of several members over months, clock changes included, recorded through the
till's services on a real SQLite cache, then every figure of random periods compared."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings

from loyalty_pos.bootstrap import make_demo_home
from loyalty_pos.reports import day_report

from ..support.histories import BERLIN, SPAN_DAYS, histories, record
from ..support.zones import machine_zone
from ..unit import reference_metrics as ref


def _fraction(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(Decimal(text))


def _minor(text: str | None) -> int | None:
    return None if text is None else int(Decimal(text) * 100)


def differences(till: dict[str, Any], model: ref.Figures) -> list[str]:
    """Every figure of the till's report that the reference says otherwise, named."""
    pairs: list[tuple[str, Any, Any]] = [
        ("issued", till["issued"], model.issued),
        ("redeemed", till["redeemed"], model.redeemed),
        ("adjusted", till["adjusted"], model.adjusted),
        ("checkouts", till["checkouts"], model.checkouts),
        ("checkouts_with_card", till["checkouts_with_card"], model.checkouts_with_card),
        ("refunds", till["refunds"], model.refunds),
        ("refunded", _minor(till["refunded"]), model.refunded_minor),
        ("engagement_pct", _fraction(till["engagement_pct"]), model.engagement_pct),
        ("redemption_rate_pct", _fraction(till["redemption_rate_pct"]), model.redemption_rate_pct),
        ("redemption_rate_note", till["redemption_rate_note"], model.redemption_rate_note),
        ("average_check", _minor(till["average_check"]), model.average_check_minor),
        ("repeat_purchases", _fraction(till["repeat_purchases"]), model.repeat_purchases),
        (
            "average_lifetime_days",
            _fraction(till["average_lifetime_days"]),
            model.average_lifetime_days,
        ),
        (
            "average_lifetime_periods",
            _fraction(till["average_lifetime_periods"]),
            model.average_lifetime_periods,
        ),
        ("ltv", _minor(till["ltv"]), model.ltv_minor),
        ("members_active_start", till["members_active_start"], len(model.active_start)),
        ("members_active_end", till["members_active_end"], len(model.active_end)),
        ("members_new", till["members_new"], len(model.new)),
        ("members_kept", till["members_kept"], len(model.kept)),
        ("retention_pct", _fraction(till["retention_pct"]), model.retention_pct),
        ("churn_pct", _fraction(till["churn_pct"]), model.churn_pct),
    ]
    if model.balances_known:
        pairs += [
            ("outstanding_points", till["outstanding_points"], model.outstanding_points),
            ("outstanding_value", _minor(till["outstanding_value"]), model.outstanding_value_minor),
            (
                "outstanding_positive_balances",
                till["outstanding_positive_balances"],
                model.positive_points,
            ),
            ("outstanding_debt", till["outstanding_debt"], model.debt),
            ("negative_balances", till["negative_balances"], model.negative_balances),
            ("expired", till["expired"], model.expired),
        ]
    return [f"{name}: till {a!r}, reference {b!r}" for name, a, b in pairs if a != b]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=histories())
def test_the_end_of_day_report_says_what_the_reference_says(history, tmp_path_factory) -> None:
    """Sales with and without a card, points payments, partial and whole refunds, adjustments
    both ways and enrolments over four months around a clock change, at a till whose store time is
    its ``timezone`` or the machine's own zone: every figure of the report of a day, a week, a
    month or the whole span is the reference's."""
    first = history["first"]
    with machine_zone("Europe/Berlin" if history["zone"] == "machine" else "UTC"):
        t = make_demo_home(tmp_path_factory.mktemp("report") / "demo")
        if history["zone"] == "config":
            t.config = replace(t.config, timezone="Europe/Berlin")
        after = datetime.combine(first + timedelta(days=SPAN_DAYS + 100), time(12), BERLIN)
        t.clock = lambda: after
        try:
            told = record(t, history["ops"])
            for a, b in history["periods"]:
                till = day_report(t, a, b)
                model = ref.report(told, a, b, BERLIN, points_per_unit=100)
                problems = differences(till, model)
                assert not problems, f"{a} to {b}: " + "; ".join(problems)
        finally:
            t.store.close()
