"""Random store histories for the report's differential tests (``tests/unit/reference_metrics``):
drawn with hypothesis, recorded through the till's services at their moments (``--at``), and told
to the reference as plain events."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from loyalty_pos import checkout as svc
from loyalty_pos.domain.errors import Refused

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
def histories(draw: st.DrawFn, pool: tuple[str, ...] = (*DEMO_CARDS, *NEW_CARDS)) -> dict[str, Any]:
    """Operations at moments of a window of ``SPAN_DAYS`` around a clock change, by members
    whose cards are drawn from ``pool`` (and sales without a card), and periods to report."""
    first = draw(st.sampled_from(WINDOWS))
    days = st.integers(0, SPAN_DAYS - 1) | st.just((change_day(first) - first).days)
    cards = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    newcomers = [c for c in cards if c in NEW_CARDS] or NEW_CARDS
    ops = []
    for card in cards:  # most new cards are enrolled early on, so that they buy
        if card in NEW_CARDS and draw(st.integers(0, 3)):
            early = datetime.combine(
                first + timedelta(days=draw(st.integers(0, 30))), time(9), BERLIN
            )
            ops.append((early.astimezone(UTC), "enrol", (card,)))
    for _ in range(draw(st.integers(1, 30))):
        day = first + timedelta(days=draw(days))
        at = draw(
            st.sampled_from(TIMES)
            | st.integers(8 * 60, 20 * 60).map(lambda m: time(m // 60, m % 60))
        )
        kind = draw(st.sampled_from(["enrol", "sale", "sale", "sale", "refund", "adjust"]))
        who = draw(st.sampled_from([None, *cards, *cards]))
        if kind == "enrol":
            args: tuple[Any, ...] = (draw(st.sampled_from(newcomers)),)
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
    # A few operations on the till's own clock (no --at), set back up to three hours (NTP, a
    # clock put right): the journal's order is then not that of the moments.
    timed = []
    for at, kind, args in sorted(ops, key=lambda op: op[0]):
        back = draw(st.sampled_from([None, None, None, None, 0, 10, 180]))
        timed.append((at if back is None else at - timedelta(minutes=back), kind, args, back))
    return {"first": first, "ops": timed, "periods": periods, "zone": zone}


def _lots(event: dict[str, Any], key: str) -> tuple[ref.Lot, ...]:
    return tuple(
        ref.Lot(
            int(lot["points"]),
            date.fromisoformat(lot["earned_at"]),
            date.fromisoformat(lot["expires_at"]) if lot["expires_at"] else None,
        )
        for lot in event.get(key) or ()
    )


def record(
    t: svc.Terminal, ops: list[tuple[datetime, str, tuple[Any, ...], int | None]]
) -> list[ref.Event]:
    """Each operation through the till's services at its moment: given as ``--at``, or, for
    those set back, the till's clock; those the till refuses are left out. The reference is
    told what each one recorded, in the order recorded."""
    told: list[ref.Event] = []
    sales: list[str] = []
    clock = t.clock
    for moment, kind, args, back in ops:
        at = None if back is not None else moment
        t.clock = (lambda m=moment: m) if back is not None else clock
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
        finally:
            t.clock = clock
        event = list(t.store.events())[-1]
        at = datetime.fromisoformat(event["occurred_at"])
        assert at == moment
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
