"""The owner's summary for a period (DESIGN.md §10), computed from the append-only tables.

Every figure the terminal's end-of-day report also has is defined once, in
``loyalty_pos.domain.metrics`` (issued, redeemed, adjusted, outstanding with the members' points
and debt apart, engagement, redemption rate, m, a, t, LTV, active members, retention, churn); this
module reads the ledger's tables for them. Besides, for the ledger only:

- Period: ``[start, end)``; days and date-times without an offset are on this machine's clock,
  the store's (``times.parse_instant``). Rejections and clock flags are placed by when the ledger
  received them.
- rejected events: the distinct events the ledger first refused in the period (by reason: first
  refused for that reason). An event held back is sent again at every sync and is refused again,
  but counts once, in the period of its first refusal.
- outstanding: the members' booked balances at ``end`` (each member's transfers before ``end``;
  a lot that has lapsed counts until the expiry run writes its ``expire`` event), so a past
  period's figure does not move with what happened after it.
- ``average_check_all`` covers every checkout, with a member or not; money is integer minor
  units, m, LTV and the average checks rounded as the till's report rounds them
  (``metrics.ltv_figures``).
- negative balances: members whose booked balance at ``end`` is below zero (an overspend
  between terminals), so a past period lists those in debt then, not now.
- clock skew: events whose terminal clock was more than 24 h off the ledger's (the ledger's
  own events, dated on purpose, are not among them).
- birthday repeats: checkouts of the period that gave a member the birthday bonus less than
  365 days after an earlier one that no refund handed back (two tills offline, neither knowing
  of the other's), by when the sales happened. The points stand, as an offline overspend does.

Percentages and ratios are decimal strings with two places.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loyalty_pos.domain import metrics
from loyalty_pos.domain.money import exponent
from loyalty_pos.domain.quote import BIRTHDAY_BONUS_EVERY_DAYS, birthday_bonus_too_soon
from loyalty_pos.domain.zones import MachineZone

from . import wire
from .schema import events, members, rejections, transfers
from .times import from_us, to_us

if TYPE_CHECKING:
    from .store import CurrentProgram

DAY_US = 86_400 * 1_000_000
SKEW_LIMIT_S = 24 * 3600


def _active(conn: Connection, at_us: int, active_days: int) -> set[str]:
    """Members active at ``at_us`` (``metrics.in_active_window``): enrolled or bought in the
    ``active_days`` before it."""
    rows = conn.execute(
        sa.select(events.c.member_id)
        .distinct()
        .where(
            events.c.status == "accepted",
            events.c.member_id.is_not(None),
            events.c.type.in_(("enroll", "checkout")),
            events.c.occurred_us >= at_us - active_days * DAY_US,
            events.c.occurred_us < at_us,
        )
    )
    return {str(r.member_id) for r in rows}


def _kinds(conn: Connection, *where: sa.ColumnElement[bool]) -> dict[str, int]:
    rows = conn.execute(
        sa.select(transfers.c.kind, sa.func.sum(transfers.c.amount))
        .where(*where)
        .group_by(transfers.c.kind)
    )
    return {str(kind): int(total) for kind, total in rows}


def _balances_at(end_us: int) -> sa.Subquery:
    """Each member's booked balance at ``end_us``: what their transfers before it moved in less
    what they moved out (every transfer has one member's account on one side)."""
    into_member = transfers.c.credit == sa.literal("member:") + transfers.c.member_id
    return (
        sa.select(
            transfers.c.member_id,
            sa.func.sum(
                sa.case((into_member, transfers.c.amount), else_=-transfers.c.amount)
            ).label("balance"),
        )
        .where(transfers.c.occurred_us < end_us)
        .group_by(transfers.c.member_id)
        .subquery()
    )


def _liability(conn: Connection, end_us: int) -> metrics.Liability:
    at_end = _balances_at(end_us)
    points, debt = conn.execute(
        sa.select(
            sa.func.coalesce(
                sa.func.sum(sa.case((at_end.c.balance > 0, at_end.c.balance), else_=0)), 0
            ),
            sa.func.coalesce(
                sa.func.sum(sa.case((at_end.c.balance < 0, -at_end.c.balance), else_=0)), 0
            ),
        )
    ).one()
    return metrics.Liability(int(points), int(debt))


#: Ledger events after which a member's sales should not happen: a freeze (until an unfreeze),
#: a card's block (for sales on that card).
_STOPS = ("freeze", "unfreeze", "card_block")


def _sales_while_stopped(conn: Connection, start_us: int, end_us: int) -> list[dict[str, Any]]:
    """The checkouts of ``[start_us, end_us)`` made while their member was frozen, or on a card
    blocked before them: a till offline that had not heard of it yet sold as before (the goods
    have left, so the ledger takes the sale), and a freeze is often a fraud check (QA)."""
    stopped = sa.select(events.c.member_id).where(
        events.c.status == "accepted", events.c.type.in_(_STOPS), events.c.occurred_us < end_us
    )
    stops: dict[str, list[tuple[int, str, str | None]]] = {}
    for member_id, kind, at_us, body in conn.execute(
        sa.select(events.c.member_id, events.c.type, events.c.occurred_us, events.c.body)
        .where(
            events.c.status == "accepted", events.c.type.in_(_STOPS), events.c.occurred_us < end_us
        )
        .order_by(events.c.occurred_us, events.c.gseq)
    ):
        card = json.loads(body).get("card") if kind == "card_block" else None
        stops.setdefault(str(member_id), []).append((int(at_us), str(kind), card))
    if not stops:
        return []
    found = []
    for member_id, terminal_id, occurred_at, occurred_us, body in conn.execute(
        sa.select(
            events.c.member_id,
            events.c.terminal_id,
            events.c.occurred_at,
            events.c.occurred_us,
            events.c.body,
        )
        .where(
            events.c.status == "accepted",
            events.c.type == "checkout",
            events.c.occurred_us >= start_us,
            events.c.occurred_us < end_us,
            events.c.member_id.in_(stopped.scalar_subquery()),
        )
        .order_by(events.c.occurred_us, events.c.gseq)
    ):
        sale = json.loads(body)
        frozen, blocked = False, False
        for at_us, kind, card in stops.get(str(member_id), ()):
            if at_us >= occurred_us:
                break
            if kind == "card_block":
                blocked = blocked or card == sale.get("card")
            else:
                frozen = kind == "freeze"
        if frozen or blocked:
            found.append(
                {
                    "member_id": member_id,
                    "receipt_id": sale.get("receipt_id"),
                    "terminal_id": terminal_id,
                    "on": datetime.fromisoformat(str(occurred_at)).date().isoformat(),
                    "why": "frozen" if frozen else "card_blocked",
                    "points_redeemed": int(sale.get("points_redeemed") or 0),
                }
            )
    return found


def _birthday_repeats(conn: Connection, start_us: int, end_us: int) -> list[dict[str, Any]]:
    """The checkouts of ``[start_us, end_us)`` whose birthday bonus came too soon after the
    member's last (``domain.quote.birthday_bonus_too_soon``), replaying each member's bonuses
    and refunds that handed one back, from a year before the period, in the order they
    happened. An event's body is canonical JSON, so a flag set reads the same in every body."""
    gave = events.c.body.contains('"birthday_bonus":true', autoescape=True)
    handed_back = events.c.body.contains('"birthday_bonus_returned":"', autoescape=True)
    given_in_period = sa.and_(
        events.c.type == "checkout",
        gave,
        events.c.occurred_us >= start_us,
        events.c.occurred_us < end_us,
    )
    concerned = sa.select(events.c.member_id).where(events.c.status == "accepted", given_in_period)
    rows = conn.execute(
        sa.select(
            events.c.member_id,
            events.c.type,
            events.c.occurred_at,
            events.c.occurred_us,
            events.c.terminal_id,
            events.c.body,
        )
        .where(
            events.c.status == "accepted",
            events.c.member_id.in_(concerned.scalar_subquery()),
            events.c.occurred_us >= start_us - (BIRTHDAY_BONUS_EVERY_DAYS + 1) * DAY_US,
            events.c.occurred_us < end_us,
            sa.or_(
                sa.and_(events.c.type == "checkout", gave),
                sa.and_(events.c.type == "refund", handed_back),
            ),
        )
        .order_by(events.c.member_id, events.c.occurred_us, events.c.gseq)
    )
    # Each member's bonuses no refund has handed back, in the order they were given, by receipt.
    standing: dict[str, dict[str, tuple[date, str, bool]]] = {}
    for member_id, kind, occurred_at, occurred_us, terminal_id, body in rows:
        event = json.loads(body)
        bonuses = standing.setdefault(str(member_id), {})
        if kind == "refund":
            if event.get("birthday_bonus_returned"):
                bonuses.pop(event.get("original_receipt_id"), None)
            continue
        if event.get("birthday_bonus") is not True:
            continue
        on = datetime.fromisoformat(str(occurred_at)).date()
        bonuses[event.get("receipt_id")] = (on, str(terminal_id), occurred_us >= start_us)
    repeats = []
    for member_id, bonuses in standing.items():
        previous: date | None = None
        for receipt_id, (on, terminal_id, in_period) in bonuses.items():
            if in_period and previous is not None and birthday_bonus_too_soon(previous, on):
                repeats.append(
                    {
                        "member_id": member_id,
                        "on": on.isoformat(),
                        "previous_on": previous.isoformat(),
                        "terminal_id": terminal_id,
                        "receipt_id": receipt_id,
                    }
                )
            previous = on
    return repeats


def _by_terminal(conn: Connection, start_us: int, end_us: int) -> list[dict[str, Any]]:
    """Each terminal's figures of the period, as its own end-of-day report counts them (and the
    ledger's own events under its id): checkouts (with a card), refunds and the money they paid
    back, points issued and redeemed net of refunds, managers' adjustments net, points expired
    (the ledger's expiry runs and their corrections for events dated before them that reached
    the ledger after them; refunds that took back written-off points that had lapsed unused
    before the refund). Their sums are
    the report's figures, so a till's report is matched to the ledger's line by line; a till's
    events the ledger holds back are in the till's report and not here."""
    sales = conn.execute(
        sa.select(
            events.c.terminal_id,
            events.c.type,
            sa.func.count(),
            sa.func.count(events.c.member_id),
            sa.func.coalesce(sa.func.sum(events.c.spend_minor), 0),
        )
        .where(
            events.c.status == "accepted",
            events.c.type.in_(("checkout", "refund")),
            events.c.occurred_us >= start_us,
            events.c.occurred_us < end_us,
        )
        .group_by(events.c.terminal_id, events.c.type)
    ).all()
    # Points a run wrote off that an event dated before it had taken (pushed after it) are
    # booked back at the run: a correction of the run, on the ledger's line; those a refund
    # takes back after they lapsed unused are its till's, on the refund's day, as it counts them.
    owner = sa.case(
        (
            sa.and_(transfers.c.kind == "unexpire", transfers.c.occurred_us > events.c.occurred_us),
            sa.literal(wire.LEDGER_TERMINAL),
        ),
        else_=events.c.terminal_id,
    ).label("owner")
    moved = conn.execute(
        sa.select(owner, transfers.c.kind, sa.func.sum(transfers.c.amount))
        .join(events, events.c.gseq == transfers.c.gseq)
        .where(transfers.c.occurred_us >= start_us, transfers.c.occurred_us < end_us)
        .group_by(owner, transfers.c.kind)
    ).all()
    figures: dict[str, dict[str, int]] = {}
    for terminal_id, kind, n, with_card, spend in sales:
        row = figures.setdefault(str(terminal_id), {})
        if kind == "checkout":
            row["checkouts"], row["with_card"] = int(n), int(with_card)
        else:
            row["refunds"], row["refunded_minor"] = int(n), -int(spend)
    for terminal_id, kind, amount in moved:
        figures.setdefault(str(terminal_id), {})[str(kind)] = int(amount)
    return [
        {
            "terminal_id": terminal_id,
            "checkouts": row.get("checkouts", 0),
            "with_card": row.get("with_card", 0),
            "refunds": row.get("refunds", 0),
            "refunded_minor": row.get("refunded_minor", 0),
            "issued": row.get("earn", 0) - row.get("reverse", 0),
            "redeemed": row.get("redeem", 0) - row.get("restore", 0),
            "adjusted": row.get("adjust_in", 0) - row.get("adjust_out", 0),
            "expired": row.get("expire", 0) - row.get("unexpire", 0),
        }
        for terminal_id, row in sorted(figures.items())
    ]


def _negatives(conn: Connection, end_us: int) -> list[dict[str, Any]]:
    """The members whose booked balance at ``end_us`` is below zero, deepest first."""
    at_end = _balances_at(end_us)
    return [
        {"member_id": str(r.member_id), "balance": int(r.balance)}
        for r in conn.execute(
            sa.select(at_end.c.member_id, at_end.c.balance)
            .where(at_end.c.balance < 0)
            .order_by(at_end.c.balance, at_end.c.member_id)
        )
    ]


def _outstanding(
    conn: Connection, current: CurrentProgram | None, end_us: int
) -> dict[str, int | None]:
    """The liability at ``end_us``, the members' points and debt apart, and its money value at
    the current program's rate (None without a program)."""
    owed = _liability(conn, end_us)
    value_minor = None
    if current is not None:
        currency = current.program.currency
        value = metrics.points_value(
            owed.outstanding, current.program.redeem.points_per_unit, currency
        )
        value_minor = int(value.scaleb(exponent(currency)))
    return {
        "points": owed.outstanding,
        "value_minor": value_minor,
        "positive_balances": owed.points,
        "debt": owed.debt,
    }


def balances(
    conn: Connection, current: CurrentProgram | None, start: datetime, end: datetime
) -> dict[str, Any]:
    """The store-wide figures of a period that a till cannot replay from the accounts it pulls
    once the period is over (they hold what happened since): the liability and the members in
    debt at ``end``, and the points the expiry runs wrote off in ``[start, end)``, defined as in
    ``summary``. A till's end-of-day report takes them from here (``GET /v1/reports/balances``,
    a terminal's token)."""
    start_us, end_us = to_us(start), to_us(end)
    moved = _kinds(
        conn,
        transfers.c.kind.in_(("expire", "unexpire")),
        transfers.c.occurred_us >= start_us,
        transfers.c.occurred_us < end_us,
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": current.program.currency if current else None,
        "outstanding": _outstanding(conn, current, end_us),
        "negative_balances": _negatives(conn, end_us),
        "expired": moved.get("expire", 0) - moved.get("unexpire", 0),
    }


def days_zone(start: datetime, end: datetime) -> tzinfo | None:
    """The zone a period's members' days are counted in: the store's. That is this machine's
    (``MachineZone``, clock changes and all) when the period's ends are on its clock, typed
    without an offset or with the offset it has at that moment (``--from 2026-03-01T00:00+01:00
    --to 2026-04-30T00:00+02:00`` in Berlin); a period asked in offsets of another zone (a
    ledger serving stores in several zones) is counted in its first one, the only zone named.
    Counted in the first offset, a period from a winter day to a summer one put each summer
    day's first hour on the day before."""
    machine = MachineZone()
    if all(
        isinstance(when.tzinfo, MachineZone)
        or when.utcoffset() == when.astimezone(machine).utcoffset()
        for when in (start, end)
    ):
        return machine
    return start.tzinfo


def summary(
    conn: Connection,
    current: CurrentProgram | None,
    start: datetime,
    end: datetime,
    active_days: int = 90,
) -> dict[str, Any]:
    start_us, end_us = to_us(start), to_us(end)

    moved = _kinds(conn, transfers.c.occurred_us >= start_us, transfers.c.occurred_us < end_us)
    issued = moved.get("earn", 0) - moved.get("reverse", 0)
    redeemed = moved.get("redeem", 0) - moved.get("restore", 0)
    currency = current.program.currency if current else None

    in_period = (
        events.c.status == "accepted",
        events.c.occurred_us >= start_us,
        events.c.occurred_us < end_us,
    )
    checkout = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(events.c.member_id),
            sa.func.coalesce(sa.func.sum(events.c.spend_minor), 0),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case((events.c.member_id.is_not(None), events.c.spend_minor), else_=0)
                ),
                0,
            ),
            sa.func.count(sa.distinct(events.c.member_id)),
        ).where(events.c.type == "checkout", *in_period)
    ).one()
    n_all, n_card, due_all, due_card, buyers = (int(x) for x in checkout)

    lifetimes = conn.execute(
        sa.select(events.c.member_id, sa.func.max(events.c.occurred_us), members.c.enrolled_us)
        .join(members, members.c.member_id == events.c.member_id)
        .where(events.c.type == "checkout", *in_period)
        .group_by(events.c.member_id, members.c.enrolled_us)
    ).all()
    lifetime_days = metrics.average_lifetime_days(
        metrics.lifetime_days(from_us(int(first)), from_us(int(last)), days_zone(start, end))
        for _, last, first in lifetimes
    )
    f = metrics.ltv_figures(due_card, n_card, buyers, lifetime_days, start, end)

    s_set = _active(conn, start_us, active_days)
    e_set = _active(conn, end_us, active_days)
    new = {
        str(r.member_id)
        for r in conn.execute(
            sa.select(members.c.member_id).where(
                members.c.enrolled_us >= start_us, members.c.enrolled_us < end_us
            )
        )
    }
    retention = metrics.retention_pct(s_set, e_set, new)
    # Of the new, those the ledger's own members import enrolled: no till's report counts them
    # as new (a till's N is its own enrolments), so the owner can tell the two figures apart.
    imported = conn.execute(
        sa.select(sa.func.count(sa.distinct(events.c.member_id))).where(
            events.c.type == "enroll", events.c.terminal_id == wire.LEDGER_TERMINAL, *in_period
        )
    ).scalar_one()

    # An event is counted in the period the ledger first refused it (for a reason, in
    # ``by_reason``): a ledger before 0002 kept a row for every try of an event held back.
    earlier = rejections.alias("earlier")
    same_event_before = (
        earlier.c.terminal_id == rejections.c.terminal_id,
        earlier.c.event_id == rejections.c.event_id,
        earlier.c.received_us < start_us,
    )
    rejected = conn.execute(
        sa.select(
            rejections.c.terminal_id,
            rejections.c.event_id,
            rejections.c.seq,
            rejections.c.reason,
            sa.select(earlier.c.id).where(*same_event_before).exists(),
            sa.select(earlier.c.id)
            .where(*same_event_before, earlier.c.reason == rejections.c.reason)
            .exists(),
        ).where(rejections.c.received_us >= start_us, rejections.c.received_us < end_us)
    ).all()
    by_reason: dict[str, set[tuple[Any, ...]]] = {}
    distinct: set[tuple[Any, ...]] = set()
    for terminal_id, event_id, seq, reason, event_before, reason_before in rejected:
        event = (terminal_id, event_id or seq)
        if not reason_before:
            by_reason.setdefault(str(reason), set()).add(event)
        if not event_before:
            distinct.add(event)

    skew = [
        {
            "terminal_id": str(tid),
            "events": int(n),
            "max_behind_s": max(int(hi), 0),
            "max_ahead_s": max(-int(lo), 0),
        }
        for tid, n, hi, lo in conn.execute(
            sa.select(
                events.c.terminal_id,
                sa.func.count(),
                sa.func.max(events.c.skew_s),
                sa.func.min(events.c.skew_s),
            )
            .where(
                sa.or_(events.c.skew_s > SKEW_LIMIT_S, events.c.skew_s < -SKEW_LIMIT_S),
                # The ledger's own events are dated on purpose (an expiry run for a missed
                # night, ``expire --at``): only a terminal's clock can be wrong.
                events.c.terminal_id != wire.LEDGER_TERMINAL,
                events.c.received_us >= start_us,
                events.c.received_us < end_us,
            )
            .group_by(events.c.terminal_id)
            .order_by(events.c.terminal_id)
        )
    ]

    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": currency,
        "program_version": current.version if current else None,
        "points": {
            "issued": issued,
            "redeemed": redeemed,
            # less what refunds took back with their sales after a run wrote it off
            "expired": moved.get("expire", 0) - moved.get("unexpire", 0),
            "adjusted": moved.get("adjust_in", 0) - moved.get("adjust_out", 0),
            "earned_gross": moved.get("earn", 0),
            "reversed": moved.get("reverse", 0),
            "redeemed_gross": moved.get("redeem", 0),
            "restored": moved.get("restore", 0),
        },
        "outstanding": _outstanding(conn, current, end_us),
        "checkouts": {
            "all": n_all,
            "with_card": n_card,
            "engagement_pct": _fmt(metrics.percent(n_card, n_all)),
        },
        "redemption_rate_pct": _fmt(metrics.redemption_rate_pct(redeemed, issued)),
        "redemption_rate_note": metrics.redemption_rate_note(redeemed, issued),
        "average_check_minor": f.m_minor,
        "average_check_all_minor": metrics.average_minor(due_all, n_all),
        "repeat_purchases": _fmt(f.a),
        "average_lifetime_days": _fmt(f.lifetime_days),
        "average_lifetime_periods": _fmt(f.t),
        "ltv_minor": f.ltv_minor,
        "members": {
            "active_days": active_days,
            "active_at_start": len(s_set),
            "kept": len(metrics.kept(s_set, e_set, new)),
            "active_at_end": len(e_set),
            "new": len(new),
            "new_imported": int(imported),
            "retention_pct": _fmt(retention),
            "churn_pct": _fmt(100 - metrics.hundredths(retention))
            if retention is not None
            else None,
        },
        "negative_balances": _negatives(conn, end_us),
        "rejected_events": {
            "total": len(distinct),
            "by_reason": {k: len(v) for k, v in sorted(by_reason.items())},
        },
        "clock_skew": skew,
        "birthday_repeats": _birthday_repeats(conn, start_us, end_us),
        "sales_while_stopped": _sales_while_stopped(conn, start_us, end_us),
        "terminals": _by_terminal(conn, start_us, end_us),
    }


_fmt = metrics.decimal_text


def render(report: dict[str, Any]) -> str:
    """The report as text for the terminal of the person who runs ``loyalty-ledger report``."""
    p, c, mem = report["points"], report["checkouts"], report["members"]
    out = report["outstanding"]

    def na(value: Any, unit: str = "") -> str:
        return "n/a" if value is None else f"{value}{unit}"

    def money(minor: int | None) -> str:
        if minor is None or report["currency"] is None:
            return "n/a"
        return f"{Decimal(minor).scaleb(-exponent(report['currency']))} {report['currency']}"

    lines = [
        f"Loyalty report {report['from']} .. {report['to']}",
        f"  points issued {p['issued']}  redeemed {p['redeemed']}  expired {p['expired']}  "
        f"adjusted {p['adjusted']}",
        f"  outstanding {out['points']} points = {money(out['value_minor'])} (members' points "
        f"{out['positive_balances']}, less debt {out['debt']})",
        f"  checkouts {c['all']}, with a card {c['with_card']} "
        f"(engagement {na(c['engagement_pct'], '%')})",
        f"  redemption rate {na(report['redemption_rate_pct'], '%')}"
        + (f" ({note})" if (note := report.get("redemption_rate_note")) else ""),
        f"  average check with a card (m) {money(report['average_check_minor'])} (all checkouts "
        f"{money(report['average_check_all_minor'])})",
        f"  repeat purchases (a) {na(report['repeat_purchases'])}, average lifetime "
        f"{na(report['average_lifetime_days'])} days (t = "
        f"{na(report['average_lifetime_periods'])} periods), LTV = m x a x t "
        f"{money(report['ltv_minor'])}",
        f"  members active at start {mem['active_at_start']} (still active at the end "
        f"{mem['kept']}), at end {mem['active_at_end']}, new {mem['new']}: retention "
        f"{na(mem['retention_pct'], '%')} (kept / at start), churn "
        f"{na(mem['churn_pct'], '%')}",
    ]
    if mem["new"]:
        lines.append(
            f"  new members: {mem.get('new_imported', 0)} imported by members import; a till's "
            "end-of-day report counts as new only the members it enrolled, and as active only "
            "those who enrolled or bought there"
        )
    lines += [
        f"  rejected events {report['rejected_events']['total']} "
        f"{_pairs(report['rejected_events']['by_reason'].items())}",
    ]
    lines.append("  by terminal (as each till's end-of-day report counts them):")
    lines.extend(
        f"    {r['terminal_id']}: checkouts {r['checkouts']} (with a card {r['with_card']}), "
        f"refunds {r['refunds']} ({money(r['refunded_minor'])}), points issued {r['issued']}, "
        f"redeemed {r['redeemed']}, adjusted {r['adjusted']}, expired {r['expired']}"
        for r in report["terminals"]
    )
    negatives = report["negative_balances"]
    lines.append(f"  members with a negative balance: {len(negatives)}")
    lines.extend(f"    {n['member_id']}: {n['balance']}" for n in negatives[:50])
    repeats = report["birthday_repeats"]
    lines.append(
        f"  birthday bonus given again within {BIRTHDAY_BONUS_EVERY_DAYS} days: {len(repeats)}"
    )
    lines.extend(
        f"    {r['member_id']}: {r['on']} at {r['terminal_id']} ({r['receipt_id']}), "
        f"after {r['previous_on']}"
        for r in repeats[:50]
    )
    stopped = report["sales_while_stopped"]
    lines.append(f"  sales to a frozen member or on a blocked card: {len(stopped)}")
    lines.extend(
        f"    {r['member_id']}: {r['on']} at {r['terminal_id']} ({r['receipt_id']}), "
        f"{'member frozen' if r['why'] == 'frozen' else 'card blocked'}, "
        f"{r['points_redeemed']} points paid"
        for r in stopped[:50]
    )
    lines.append(f"  terminals with a clock more than 24 h off: {len(report['clock_skew'])}")
    for s in report["clock_skew"]:
        off = [
            f"{duration(seconds)} {side}"
            for seconds, side in ((s["max_behind_s"], "behind"), (s["max_ahead_s"], "ahead"))
            if seconds
        ]
        events_n = f"{s['events']} event{'s' if s['events'] != 1 else ''}"
        lines.append(f"    {s['terminal_id']}: {events_n}, up to {' and '.join(off)}")
    return "\n".join(lines)


def duration(seconds: int) -> str:
    """A length of time for a person: its two largest units, floored ("355 days 10 h",
    "5 h 12 min", "12 min", "40 s"); a clock years off reads in days (``30,708,187,274`` s is
    "355,418 days 10 h")."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days:,} day{'s' if days != 1 else ''}"
        return f"{text} {hours} h" if hours else text
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _pairs(items: Iterable[tuple[str, int]]) -> str:
    text = ", ".join(f"{k} {v}" for k, v in items)
    return f"({text})" if text else ""
