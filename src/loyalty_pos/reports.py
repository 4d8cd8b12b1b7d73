"""The store's end-of-day report: DESIGN.md §10 figures for a period, from this terminal's journal."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from .checkout import Terminal
from .domain.accounting import POINT_EVENTS, apply_event, event_day
from .domain.errors import LoyaltyPosError, Refused
from .domain.lots import Account
from .domain.metrics import balance_figures, period_report, points_value
from .domain.zones import YEARS, MachineZone
from .store.db import MEMBERS_PULLED_AT, utc_iso


def parse_day(text: str, what: str) -> date:
    """A report day typed as ``YYYY-MM-DD``; Refused, naming ``what``, otherwise."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{what} {text!r} is not a date YYYY-MM-DD") from None
    if day.year not in YEARS:
        raise Refused(f"{what} {text!r} is not between {YEARS[0]} and {YEARS[-1]}")
    return day


def store_zone(t: Terminal) -> tzinfo:
    """The zone of the store's days: ``timezone`` from the config, else the machine's own."""
    return t.config.tz or MachineZone()


class BalanceReplay:
    """Every member's balance at ``end``, replayed as ``verify`` replays the journal: the member's
    base (their account at the ledger when this till last took it; nothing on a till without a
    ledger) and this till's later events that happened before ``end``. A lot lapses at the start
    of its ``expires_at`` day, so at midnight the lots of that day are gone.

    ``passing`` replays the journal's events while they go on to the report's other figures, so
    the journal is read once; members it never names keep their base. ``begin`` is when the
    period starts, for its expired points (``expired``)."""

    def __init__(self, t: Terminal, end: datetime, begin: datetime) -> None:
        self.t, self.end, self.on = t, end, end.date()
        self.begin, self.since = begin, begin.date()
        self.base_seq: dict[str, int] = {}
        self.at_end: dict[str, int] = {}
        self.lapsed: dict[str, int] = {}
        days = {"on": self.on.isoformat(), "since": self.since.isoformat()}
        for row in t.store.query(_BASE_BALANCES, days):
            self.base_seq[row["member_id"]] = row["base_seq"]
            self.at_end[row["member_id"]] = row["balance"]
            self.lapsed[row["member_id"]] = row["lapsed"]
        self.accounts: dict[str, Account] = {}
        #: lapsed points of each member as the period began, for those it has events of
        self.lapsed_at_start: dict[str, int] = {}
        #: a member's base counts one of this till's events stamped at or after ``end`` (a clock
        #: that ran ahead): the balances at ``end`` cannot be told from the bases
        self.base_holds_later = False

    def passing(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for event in events:
            member = event.get("member_id")
            if member in self.base_seq and event.get("type") in POINT_EVENTS:
                self._replay(member, event)
            yield event

    def _replay(self, member: str, event: dict[str, Any]) -> None:
        """Apply ``event`` of ``member`` when it happened before ``end`` and after their base."""
        after_end = event_day(event) >= self.end
        if int(event["seq"]) <= self.base_seq[member]:  # already in the base
            self.base_holds_later |= after_end
            return
        if after_end:
            return
        account = self.accounts.get(member) or self._base(member)
        if member not in self.lapsed_at_start and event_day(event) >= self.begin:
            self.lapsed_at_start[member] = _lapsed(account, self.since)
        self.accounts[member] = apply_event(account, event)

    def _base(self, member_id: str) -> Account:
        row = self.t.store.member(member_id)
        assert row is not None  # read with the other members' bases
        return self.t.store.base_account(row)

    def balances(self) -> dict[str, int]:
        replayed = {m: account.balance(self.on) for m, account in self.accounts.items()}
        return {**self.at_end, **replayed}

    def expired(self) -> int:
        """The points that lapsed in the period: the lapsed points the members hold at its end
        less those they held as it began. A lapsed lot is never spent from, so this is what the
        lots that lapsed in the period held then, and the points a refund gave back already
        lapsed (a sale paid with them before they lapsed): those count as given back, and so
        here as expired, not in the balance; less the points a refund took back from a lapsed
        lot (its sale's own, that lapsed unused): they go with the sale, reversed rather than
        expired. A member with no event in the period expires the
        points of their lots whose ``expires_at`` is after its first day and by its end."""
        total = 0
        for member, lapsed in self.lapsed.items():
            account = self.accounts.get(member)
            if account is None:
                total += lapsed  # the base's, from ``_BASE_BALANCES``
            elif member in self.lapsed_at_start:
                total += _lapsed(account, self.on) - self.lapsed_at_start[member]
            else:
                total += _lapsed(account, self.on) - _lapsed(account, self.since)
        return total


def _lapsed(account: Account, on: date) -> int:
    """The points of ``account``'s lots that are no longer spendable on ``on``."""
    return sum(lot.points for lot in account.lots if not lot.live_on(on))


#: Each member's base on a day (``:on``): the balance (the live lots of ``base_lots`` less
#: ``base_debt``) and the points of the lots that lapsed after ``:since`` and by then.
_BASE_BALANCES = (
    "SELECT m.member_id, m.base_seq, "
    "COALESCE((SELECT SUM(json_extract(l.value, '$.points')) FROM json_each(m.base_lots) l "
    "WHERE json_extract(l.value, '$.expires_at') IS NULL "
    "OR json_extract(l.value, '$.expires_at') > :on), 0) - m.base_debt AS balance, "
    "COALESCE((SELECT SUM(json_extract(l.value, '$.points')) FROM json_each(m.base_lots) l "
    "WHERE json_extract(l.value, '$.expires_at') > :since "
    "AND json_extract(l.value, '$.expires_at') <= :on), 0) AS lapsed FROM members m"
)


def members_pulled_at(t: Terminal) -> datetime | None:
    """When a pull last brought members' accounts from the ledger (None: never). A cache that
    pulled before this was kept counts as having pulled just now."""
    if at := t.store.meta(MEMBERS_PULLED_AT):
        return datetime.fromisoformat(at)
    if t.store.meta("pull_cursor") not in (None, "0"):
        return t.now()
    return None


def enrolled_at(t: Terminal, member_id: str) -> datetime | None:
    """When the ledger says ``member_id`` was enrolled (their last snapshot's ``enrolled_at``),
    or None: a member this till enrolled or imported itself, or one pulled from a ledger of an
    earlier release. The report counts the lifetime of a member this till did not enrol from
    it, as the ledger's report does, not from their first purchase here (which read a shorter
    t at the till for every member enrolled at another till or by the ledger's import)."""
    row = t.store.one("SELECT enrolled_at FROM members WHERE member_id = ?", (member_id,))
    return datetime.fromisoformat(row["enrolled_at"]) if row and row["enrolled_at"] else None


def enrolled_elsewhere(t: Terminal, begin: datetime, finish: datetime) -> int:
    """The members the ledger says were enrolled in ``[begin, finish)`` that this till did not
    enrol (the ledger's members import, another till): the till's N leaves them out, the
    ledger's report counts them as new. The snapshots' times carry the offset of wherever the
    enrolment was made, so the day prefix only narrows the rows; the moments decide."""
    rows = t.store.query(
        "SELECT enrolled_at FROM members WHERE substr(enrolled_at, 1, 10) BETWEEN ? AND ? "
        "AND member_id NOT IN (SELECT member_id FROM journal WHERE type = 'enroll' "
        "AND member_id IS NOT NULL)",
        (
            (begin.date() - timedelta(days=1)).isoformat(),
            (finish.date() + timedelta(days=1)).isoformat(),
        ),
    )
    return sum(1 for r in rows if begin <= datetime.fromisoformat(r["enrolled_at"]) < finish)


def held_back(t: Terminal, begin: datetime, finish: datetime) -> int:
    """This till's events of the period (``begin`` to ``finish``) that the ledger holds back now:
    refused, kept here until a manager deals with them (``loyalty-pos journal --held``)."""
    start, end = utc_iso(begin), utc_iso(finish)
    return sum(1 for row in t.store.rejected() if start <= row["occurred_at"] < end)


#: Asks the ledger for its figures of a period (``sync.ledger_balances``): its liability and
#: members in debt at the end, and what its expiry runs wrote off in it.
LedgerAsk = Callable[[datetime, datetime], dict[str, Any]]


def day_report(
    t: Terminal, start: date, end: date | None = None, ledger: LedgerAsk | None = None
) -> dict[str, Any]:
    """Figures for the store-local days ``start`` to ``end`` (inclusive; default: that one day).

    The balances (the liability, the members in debt) and the points expired are store-wide.
    A till without a ledger replays them from its journal to the end of the period
    (``BalanceReplay``). A till with one (``ledger``) takes those of a period that is over from
    the ledger, which holds every till's sales, once its own of the period are all there; before
    then, or with the ledger out of reach, it shows none and says why. For today, not over, it
    takes them from the ledger as it holds them now, on the same condition; otherwise it shows
    the balances it knows, the accounts it last pulled and its own sales since, and says so:
    other tills' sales since that pull are not in them. At a till with a ledger the report says
    that its sales figures are this till's own, and up to when (``figures_note``)."""
    now = t.now()
    tz = store_zone(t)
    begin = datetime.combine(start, time(), tz)
    finish = datetime.combine((end or start) + timedelta(days=1), time(), tz)
    program = t.program
    pulled = members_pulled_at(t)
    over = finish <= now
    from_ledger = ledger is not None and over
    replay = None
    if not from_ledger and (pulled is None or pulled <= finish):
        replay = BalanceReplay(t, finish, begin)
    events = t.store.events()
    report = period_report(
        replay.passing(events) if replay else events,
        begin,
        finish,
        currency=program.currency,
        points_per_unit=program.redeem.points_per_unit,
        rejected=held_back(t, begin, finish),
        enrolled=lambda member_id: enrolled_at(t, member_id),
    )
    why = None
    figures: dict[str, Any] | None = None
    not_asked = None  # why today's balances are not the ledger's
    if from_ledger and ledger is not None:
        figures, why = _ledgers_figures(t, ledger, begin, finish)
    elif replay is not None and replay.base_holds_later:
        replay = None
        why = (
            "the members' accounts this till took from it count an event of this till stamped "
            "after the period (its clock ran ahead)"
        )
    elif replay is None and pulled is not None:
        why = (
            f"this till took members' accounts from it at {pulled:%Y-%m-%d %H:%M}, "
            "after the period ended"
        )
    elif ledger is not None and begin <= now:
        # today, not over: the ledger's balances as it holds them now (every till's sales it
        # has), when it has all of this till's; else the till's own view, which says what it
        # lacks (other tills' sales since the last pull)
        figures, not_asked = _ledgers_figures(t, ledger, begin, now, over=False)
    if figures is not None:
        report.update(figures)
    else:
        report.update(
            balance_figures(
                replay.balances() if replay else None,
                currency=program.currency,
                points_per_unit=program.redeem.points_per_unit,
            )
        )
        report["expired"] = replay.expired() if replay else None
        report["balances_from"] = "till" if replay else None
        if replay is not None and not over and t.config.ledger.configured:
            report["balances_note"] = _till_view_note(pulled, now, not_asked)
    if t.config.ledger.configured:
        report["figures_note"] = (
            "Checkouts, refunds, points issued, redeemed and adjusted, m, a, t and the members "
            f"active are this till's ({t.config.terminal_id}) own, from its journal"
            + (f", up to {now:%Y-%m-%d %H:%M} (the period is not over)" if not over else "")
            + "; every till's are in the ledger's report (loyalty-ledger report)."
        )
        if elsewhere := enrolled_elsewhere(t, begin, finish):
            who, are = ("1 member", "is") if elsewhere == 1 else (f"{elsewhere} members", "are")
            report["members_note"] = (
                "New members (N) are those enrolled at this till, and a member is active here "
                f"once enrolled or buying here: {who} enrolled in the period elsewhere (by the "
                f"ledger's members import, or at another till) {are} not in N, and {are} in E "
                "only once they buy here. The ledger's report (loyalty-ledger report) counts "
                "them as new and active from their enrolment."
            )
    if why:
        report["balances_unknown"] = (
            "The balances at the end of this period are the ledger's to tell "
            f"(loyalty-ledger report): {why}."
        )
    return {"terminal_id": t.config.terminal_id, "program": program.id, **report}


def _till_view_note(pulled: datetime | None, now: datetime, not_asked: str | None) -> str:
    """What the balances of a period not over are at a till with a ledger, when they are the
    till's own view (``balances_from`` till): whose sales they hold, and up to when."""
    if pulled is None:
        held = (
            "this till has not taken members' accounts from the ledger yet, so they hold only "
            "this till's own sales"
        )
    else:
        held = (
            "the members' accounts the ledger sent at this till's last pull "
            f"({pulled:%Y-%m-%d %H:%M}), which hold every till's sales until then, and this "
            "till's own sales since; other tills' sales since that pull are not in them"
        )
    why = f" The ledger's own could not be had: {not_asked}." if not_asked else ""
    return (
        f"The balances and the points expired are this till's view at {now:%Y-%m-%d %H:%M}, the "
        f"period not over: {held}.{why} Sync, then report again, for the latest; the report of "
        "a period that is over takes them from the ledger."
    )


def _ledgers_figures(
    t: Terminal, ask: LedgerAsk, begin: datetime, finish: datetime, *, over: bool = True
) -> tuple[dict[str, Any] | None, str | None]:
    """The ledger's balance figures of ``[begin, finish)`` for the report, or None and why not
    (``over``: the period ended at ``finish``; else ``finish`` is now, in a period not over).
    Asked only when every event of this till stamped before ``finish`` is at the ledger: a sale
    not yet sent (or held back) is in no balance there, and the figure would leave it out."""
    # now (a period not over): every event waiting counts, one of this very second included
    cutoff = utc_iso(finish) if over else "9999"
    row = t.store.one("SELECT COUNT(*) AS n FROM outbox WHERE occurred_at < ?", (cutoff,))
    waiting = int(row["n"]) if row else 0
    if waiting:
        return None, (
            f"{waiting} of this till's events "
            + ("of before the period's end " if over else "")
            + f"{'is' if waiting == 1 else 'are'} not at the ledger yet (sync, then report again)"
        )
    program = t.program
    try:
        said = ask(begin, finish)
        owed = said["outstanding"]
        points, held, debt = (int(owed[k]) for k in ("points", "positive_balances", "debt"))
        expired = int(said["expired"])
        negatives = sorted(str(n["member_id"]) for n in said["negative_balances"])
    except LoyaltyPosError as e:
        return None, f"it could not be asked ({e})"
    except (KeyError, TypeError, ValueError):
        return None, "its answer could not be read"
    figures = {
        "outstanding_points": points,
        "outstanding_value": str(
            points_value(points, program.redeem.points_per_unit, program.currency)
        ),
        "outstanding_positive_balances": held,
        "outstanding_debt": debt,
        "negative_balances": negatives,
        "expired": expired,
        "balances_from": "ledger",
        "balances_note": (
            "The balances at the end of this period and the points expired are the ledger's, "
            f"as it held them at {t.now():%Y-%m-%d %H:%M}: every till's sales, and the lots "
            "its expiry runs wrote off in the period (a lapsed lot counts in the balances "
            "until a run writes it off)."
            if over
            else "The balances and the points expired so far are the ledger's, as it held them "
            f"at {finish:%Y-%m-%d %H:%M}, the period not over: every till's sales it had by "
            "then, and the lots its expiry runs wrote off since the period began (a lapsed lot "
            "counts in the balances until a run writes it off)."
        ),
    }
    return figures, None


LABELS = [
    ("checkouts", "Checkouts"),
    ("checkouts_with_card", "  with a loyalty card"),
    ("engagement_pct", "Engagement %"),
    ("refunds", "Refunds"),
    ("refunded", "  money paid back"),
    ("issued", "Points issued (net of refunds)"),
    ("redeemed", "Points redeemed (net of refunds)"),
    ("expired", "Points expired (lots that lapsed)"),
    ("adjusted", "Points adjusted by managers (net)"),
    ("redemption_rate_pct", "Redemption rate %"),
    ("outstanding_points", "Outstanding points (liability)"),
    ("outstanding_value", "  worth"),
    ("outstanding_positive_balances", "  members' points"),
    ("outstanding_debt", "  less members' debt"),
    ("average_check", "Average check with a card (m)"),
    ("repeat_purchases", "Purchases per member (a)"),
    ("average_lifetime_days", "Member lifetime in days"),
    ("average_lifetime_periods", "  in periods (t)"),
    ("ltv", "LTV = m x a x t"),
    ("members_active_start", "Members active at the start (S)"),
    ("members_kept", "  still active at the end (K)"),
    ("members_active_end", "Members active at the end (E)"),
    ("members_new", "New members enrolled here (N)"),
    ("retention_pct", "Retention % = K / S"),
    ("churn_pct", "Churn %"),
    ("rejected_events", "Events the ledger holds back now"),
]


#: Quotients of the period's sales (and of the members active at its start): with nothing to
#: divide by there is no figure, which the report says as the ledger's does ("n/a"); "-" is a
#: figure this report cannot know.
NOT_APPLICABLE = {
    "engagement_pct",
    "average_check",
    "repeat_purchases",
    "average_lifetime_days",
    "average_lifetime_periods",
    "ltv",
    "retention_pct",
    "churn_pct",
}


def report_text(report: dict[str, Any], width: int = 48) -> str:
    lines = [
        f"End of day - terminal {report['terminal_id']}",
        f"{report['from'][:10]} to {report['to'][:10]} (exclusive)",
        "-" * width,
    ]
    for key, label in LABELS:
        value = report.get(key)
        if key == "redemption_rate_pct" and (note := report.get("redemption_rate_note")):
            # not a figure worth reading (a tiny or negative issue): why, on its own line
            lines.append(f"{label:<34}{'n/a':>{width - 34}}")
            lines.extend(textwrap.wrap(f"({note})", width, initial_indent="  "))
            continue
        if value is None:
            value = "n/a" if key in NOT_APPLICABLE else "-"
        lines.append(f"{label:<34}{value:>{width - 34}}")
    negatives = report.get("negative_balances")
    count = "-" if negatives is None else len(negatives)
    lines.append(f"{'Members with a negative balance':<34}{count:>{width - 34}}")
    lines.extend(f"  {m}" for m in (negatives or [])[:20])
    for note in ("figures_note", "members_note", "balances_note", "balances_unknown"):
        if text := report.get(note):
            lines.extend(textwrap.wrap(text, width))
    return "\n".join(lines)
