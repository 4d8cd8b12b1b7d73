"""The end-of-day report against a plain reference of its figures (``tests/unit/reference_metrics``):
random histories of several members over weeks, clock changes included, recorded through the
till's services on a real SQLite cache, then every figure of random periods compared."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_pos import checkout as svc
from loyalty_pos.bootstrap import make_demo_home
from loyalty_pos.domain.errors import Refused
from loyalty_pos.reports import day_report

from ..support.zones import machine_zone
from ..unit import reference_metrics as ref

BERLIN = ZoneInfo("Europe/Berlin")
#: The demo store's cards (imported, no enrolment on record) and cards enrolled as it goes.
DEMO_CARDS = ["04A1B2C3D4E500", "LC00100037", "04A1B2C3D4E502"]
NEW_CARDS = [f"LC9000000{k}" for k in range(4)]
ITEMS = ["BOOK-COOK", "BOOK-COOK", "MILK", "MASCARA", "OLIVEOIL", "BOOK-KIDS"]
#: Weeks around the spring clock change (29 March 2026) and the autumn one (25 October 2026,
#: before the spend60 promotion of November and December).
WINDOWS = [date(2026, 2, 1), date(2026, 8, 20)]
SPAN_DAYS = 120
TIMES = [time(0, 0), time(0, 30), time(1, 59), time(2, 30), time(3, 0), time(23, 30), time(23, 59)]


def change_day(first: date) -> date:
    """The day of the clock change in the window that begins on ``first``."""
    return date(2026, 3, 29) if first.month < 6 else date(2026, 10, 25)


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    first = draw(st.sampled_from(WINDOWS))
    days = st.integers(0, SPAN_DAYS - 1) | st.just((change_day(first) - first).days)
    cards = draw(st.lists(st.sampled_from(DEMO_CARDS + NEW_CARDS), min_size=1, max_size=4))
    ops = []
    for _ in range(draw(st.integers(1, 30))):
        day = first + timedelta(days=draw(days))
        at = draw(
            st.sampled_from(TIMES)
            | st.integers(8 * 60, 20 * 60).map(lambda m: time(m // 60, m % 60))
        )
        kind = draw(st.sampled_from(["enrol", "sale", "sale", "sale", "refund", "adjust"]))
        who = draw(st.sampled_from([None, *cards, *cards]))
        if kind == "enrol":
            args: tuple[Any, ...] = (draw(st.sampled_from(NEW_CARDS)),)
        elif kind == "sale":
            items = draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=3))
            redeem = draw(st.sampled_from([None, "max", "max", 100, 250]))
            args = (who, items, redeem)
        elif kind == "refund":
            args = (draw(st.integers(0, 20)), draw(st.booleans()))
        else:
            args = (who or cards[0], draw(st.sampled_from([300, 1200, 5000, -50, -400])))
        # the store's wall clock; 02:30 on the spring night is the moment ZoneInfo makes of it
        ops.append((datetime.combine(day, at, BERLIN).astimezone(UTC), kind, args))
    periods = []
    for _ in range(draw(st.integers(1, 3))):
        a = first + timedelta(days=draw(st.integers(-2, SPAN_DAYS + 1)))
        b = a + timedelta(days=draw(st.sampled_from([0, 0, 1, 6, 30, 90])))
        periods.append((a, b))
    periods.append((change_day(first), change_day(first)))
    zone = draw(st.sampled_from(["config", "machine"]))
    return {
        "first": first,
        "ops": sorted(ops, key=lambda op: op[0]),
        "periods": periods,
        "zone": zone,
    }


def _lots(event: dict[str, Any], key: str) -> tuple[ref.Lot, ...]:
    return tuple(
        ref.Lot(
            int(lot["points"]),
            date.fromisoformat(lot["earned_at"]),
            date.fromisoformat(lot["expires_at"]) if lot["expires_at"] else None,
        )
        for lot in event.get(key) or ()
    )


def record(t: svc.Terminal, ops: list[tuple[datetime, str, tuple[Any, ...]]]) -> list[ref.Event]:
    """Each operation through the till's services at its moment (``--at``); those the till
    refuses are left out. The reference is told what each one recorded."""
    told: list[ref.Event] = []
    sales: list[str] = []
    for at, kind, args in ops:
        try:
            if kind == "enrol":
                svc.enroll(t, args[0], name="New", at=at)
            elif kind == "sale":
                who, items, redeem = args
                lines = svc.resolve_items(t, [(sku, 1) for sku in items])
                sales.append(svc.checkout(t, who, lines, redeem, at)["receipt_id"])
            elif kind == "refund":
                if not sales:
                    continue
                receipt = sales[args[0] % len(sales)]
                sale = t.store.event_by_receipt(receipt)
                assert sale is not None
                some = None if args[1] else {sale["lines"][0]["sku"]: 1}
                svc.refund(t, receipt, some, "1234", at=at)
            else:
                svc.adjust(t, args[0], args[1], "correction", "1234", at=at)
        except Refused:
            continue
        event = list(t.store.events())[-1]
        assert datetime.fromisoformat(event["occurred_at"]) == at
        member = event.get("member_id")
        if event["type"] == "enroll":
            told.append(ref.Enrol(at, member))
        elif event["type"] == "checkout":
            told.append(
                ref.Sale(
                    at,
                    member,
                    event["receipt_id"],
                    event["due_minor"],
                    event["points_earned"],
                    event["points_redeemed"],
                    _lots(event, "lots"),
                )
            )
        elif event["type"] == "refund":
            told.append(
                ref.Refund(
                    at,
                    member,
                    event["original_receipt_id"],
                    event["refund_minor"],
                    event["points_reversed"],
                    event["points_restored"],
                    _lots(event, "reversed_lots"),
                    _lots(event, "lots"),
                )
            )
        else:
            told.append(ref.Adjust(at, member, event["points"], _lots(event, "lots")))
    return told


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
