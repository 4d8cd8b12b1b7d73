"""The owner's summary for a period (DESIGN.md §10), computed from the append-only tables.

Definitions, so that the figures can be checked by hand:

- Period: ``[start, end)``. Points, checkouts and members are placed by the event's
  ``occurred_at`` (the terminal's claim: when the sale happened); rejections and clock flags by
  when the ledger received them.
- issued = points earned at checkouts less points reversed by refunds; redeemed = points paid with
  less points given back by refunds; expired; adjusted (net, admin and terminal corrections).
- outstanding = all members' points as of ``end`` (= minus the program accounts' balances), and
  its money value at the current program's redemption rate, floored to the minor unit.
- engagement % = checkouts with a member / all checkouts.
- redemption rate % = redeemed / issued.
- m, average check = money due of checkouts with a member / their number (``average_check_all``
  covers every checkout).
- a, repeat purchases = checkouts with a member / distinct members who bought.
- t, average lifetime = for the members who bought, days from enrolment to their last checkout in
  the period, averaged; in periods: days / period length.
- LTV = m × a × t (t in periods), floored to the minor unit.
- A member is *active* at an instant when they enrolled or bought in the ``active_days`` before
  it. S = active at start, E = active at end, N = members enrolled in the period and active at
  end; retention % = (E − N) / S × 100, churn % = 100 − retention (null when S = 0).
- negative balances: members whose balance is below zero now (overspend between terminals).
- clock skew: events whose terminal clock was more than 24 h off the ledger's.

Percentages and ratios are decimal strings with two places; money is integer minor units.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loyalty_pos.domain.money import exponent

from .schema import events, members, rejections, transfers
from .times import to_us

if TYPE_CHECKING:
    from .store import CurrentProgram

DAY_US = 86_400 * 1_000_000
SKEW_LIMIT_S = 24 * 3600
_CENT = Decimal("0.01")


def _ratio(num: Decimal | int, den: Decimal | int, scale: int = 1) -> str | None:
    if not den:
        return None
    return str((Decimal(num) * scale / Decimal(den)).quantize(_CENT, ROUND_HALF_EVEN))


def _active(conn: Connection, at_us: int, active_days: int) -> set[str]:
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


def summary(
    conn: Connection,
    current: CurrentProgram | None,
    start: datetime,
    end: datetime,
    active_days: int = 90,
) -> dict[str, Any]:
    start_us, end_us = to_us(start), to_us(end)
    period_days = Decimal(end_us - start_us) / DAY_US

    moved = _kinds(conn, transfers.c.occurred_us >= start_us, transfers.c.occurred_us < end_us)
    upto = _kinds(conn, transfers.c.occurred_us < end_us)
    issued = moved.get("earn", 0) - moved.get("reverse", 0)
    redeemed = moved.get("redeem", 0) - moved.get("restore", 0)
    outstanding = (
        upto.get("earn", 0)
        - upto.get("reverse", 0)
        - upto.get("redeem", 0)
        + upto.get("restore", 0)
        - upto.get("expire", 0)
        + upto.get("adjust_in", 0)
        - upto.get("adjust_out", 0)
    )
    value_minor = None
    currency = None
    if current is not None:
        currency = current.program.currency
        major = Decimal(outstanding) / current.program.redeem.points_per_unit
        value_minor = int(major.scaleb(exponent(currency)).to_integral_value(ROUND_FLOOR))

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
    lifetime_days = (
        sum((Decimal(max(last - first, 0)) / DAY_US for _, last, first in lifetimes), Decimal(0))
        / len(lifetimes)
        if lifetimes
        else None
    )
    m = Decimal(due_card) / n_card if n_card else None
    a = Decimal(n_card) / buyers if buyers else None
    t = lifetime_days / period_days if lifetime_days is not None and period_days else None
    ltv = (
        int((m * a * t).to_integral_value(ROUND_FLOOR))
        if m is not None and a is not None and t is not None
        else None
    )

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
    n_new = len(e_set & new)
    retention = _ratio(len(e_set) - n_new, len(s_set), 100)

    negatives = [
        {"member_id": str(r.member_id), "balance": int(r.balance)}
        for r in conn.execute(
            sa.select(members.c.member_id, members.c.balance)
            .where(members.c.balance < 0)
            .order_by(members.c.balance, members.c.member_id)
        )
    ]

    rejected = conn.execute(
        sa.select(
            rejections.c.terminal_id, rejections.c.event_id, rejections.c.seq, rejections.c.reason
        ).where(rejections.c.received_us >= start_us, rejections.c.received_us < end_us)
    ).all()
    by_reason: dict[str, set[tuple[Any, ...]]] = {}
    for terminal_id, event_id, seq, reason in rejected:
        by_reason.setdefault(str(reason), set()).add((terminal_id, event_id or seq))
    distinct = set().union(*by_reason.values()) if by_reason else set()

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
            "expired": moved.get("expire", 0),
            "adjusted": moved.get("adjust_in", 0) - moved.get("adjust_out", 0),
            "earned_gross": moved.get("earn", 0),
            "reversed": moved.get("reverse", 0),
            "redeemed_gross": moved.get("redeem", 0),
            "restored": moved.get("restore", 0),
        },
        "outstanding": {"points": outstanding, "value_minor": value_minor},
        "checkouts": {
            "all": n_all,
            "with_card": n_card,
            "engagement_pct": _ratio(n_card, n_all, 100),
        },
        "redemption_rate_pct": _ratio(redeemed, issued, 100),
        "average_check_minor": _floor(m),
        "average_check_all_minor": _floor(Decimal(due_all) / n_all if n_all else None),
        "repeat_purchases": _fmt(a),
        "average_lifetime_days": _fmt(lifetime_days),
        "average_lifetime_periods": _fmt(t),
        "ltv_minor": ltv,
        "members": {
            "active_days": active_days,
            "active_at_start": len(s_set),
            "active_at_end": len(e_set),
            "new": n_new,
            "retention_pct": retention,
            "churn_pct": _fmt(Decimal(100) - Decimal(retention)) if retention else None,
        },
        "negative_balances": negatives,
        "rejected_events": {
            "total": len(distinct),
            "by_reason": {k: len(v) for k, v in sorted(by_reason.items())},
        },
        "clock_skew": skew,
    }


def _floor(value: Decimal | None) -> int | None:
    return None if value is None else int(value.to_integral_value(ROUND_FLOOR))


def _fmt(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(_CENT, ROUND_HALF_EVEN))


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
        f"  outstanding {out['points']} points = {money(out['value_minor'])}",
        f"  checkouts {c['all']}, with a card {c['with_card']} "
        f"(engagement {na(c['engagement_pct'], '%')})",
        f"  redemption rate {na(report['redemption_rate_pct'], '%')}",
        f"  average check {money(report['average_check_minor'])} (all checkouts "
        f"{money(report['average_check_all_minor'])})",
        f"  repeat purchases {na(report['repeat_purchases'])}, average lifetime "
        f"{na(report['average_lifetime_days'])} days, LTV {money(report['ltv_minor'])}",
        f"  members active at start {mem['active_at_start']}, at end {mem['active_at_end']}, "
        f"new {mem['new']}: retention {na(mem['retention_pct'], '%')}, churn "
        f"{na(mem['churn_pct'], '%')}",
        f"  rejected events {report['rejected_events']['total']} "
        f"{_pairs(report['rejected_events']['by_reason'].items())}",
    ]
    negatives = report["negative_balances"]
    lines.append(f"  members with a negative balance: {len(negatives)}")
    lines.extend(f"    {n['member_id']}: {n['balance']}" for n in negatives[:50])
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
