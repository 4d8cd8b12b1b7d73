"""The program's rules (DESIGN.md §4), parsed from TOML into typed values.

Validation collects every problem at once, each naming the file and the key, so the person editing
``program.toml`` fixes everything in one go. Unknown keys are errors: a typo must never silently
turn a rule off.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ConfigError
from .events import MAX_ENTRIES, MAX_ID, MAX_POINTS, MAX_TEXT, text_problem
from .money import CURRENCY_EXPONENTS, minor_unit

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PROMOTION_KINDS = (
    "threshold_bonus",
    "category_multiplier",
    "nth_free",
    "birthday_bonus",
    "cashback",
)


@dataclass(frozen=True, slots=True)
class EarnRules:
    points_per_unit: Decimal
    excluded_categories: frozenset[str]
    earn_on_points_paid: bool


@dataclass(frozen=True, slots=True)
class RedeemRules:
    points_per_unit: int
    min_cash: Decimal
    max_share: Decimal
    min_points: int


@dataclass(frozen=True, slots=True)
class OfflinePolicy:
    grace_minutes: int
    max_redeem_points_per_member_per_day: int


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    min_spend: Decimal
    multiplier: Decimal


@dataclass(frozen=True, slots=True)
class Promotion:
    """One promotion. ``kind`` decides which of the optional attributes are set.

    Attributes:
        id: stable id, shown as ``promo:<id>`` in breakdowns.
        name: display name for receipts (defaults to the id).
        starts, ends: inclusive store-local dates, or None for open-ended.
        weekdays: the days it runs on (empty = every day).
    """

    id: str
    kind: str
    name: str
    starts: date | None = None
    ends: date | None = None
    weekdays: frozenset[str] = frozenset()
    min_spend: Decimal = Decimal(0)
    bonus: int = 0
    category: str = ""
    multiplier: Decimal = Decimal(1)
    sku: str = ""
    every: int = 0
    scope: str = "basket"
    window_days: int = 0
    percent: Decimal = Decimal(0)
    valid_days: int = 0

    def active_on(self, when: datetime) -> bool:
        day = when.date()
        if self.starts and day < self.starts:
            return False
        if self.ends and day > self.ends:
            return False
        return not self.weekdays or WEEKDAYS[day.weekday()] in self.weekdays


@dataclass(frozen=True, slots=True)
class Program:
    id: str
    name: str
    currency: str
    version: int
    earn: EarnRules
    redeem: RedeemRules
    expiry_days: int
    offline: OfflinePolicy
    tier_window_days: int
    tiers: tuple[Tier, ...]
    promotions: tuple[Promotion, ...]
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def tier_named(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        return self.tiers[0]

    def promotion(self, promo_id: str) -> Promotion | None:
        return next((p for p in self.promotions if p.id == promo_id), None)


#: Bounds on a rule's numbers: far above any real program, low enough that every figure computed
#: from them (points, dates, money) stays exact and inside what the cache and the ledger store.
MOST_MONEY = Decimal(10**15)  # a tier's or a promotion's spend, the cash part
MOST_RATE = Decimal(10_000)  # points per unit earned, a multiplier
#: Decimal places a rate or an amount in the program may have: a sale's arithmetic (28
#: significant digits, Python's default) stays exact with them ("0.99999999999999999999999999999"
#: points a unit was rounded to 1 and earned a point too many).
MOST_DECIMALS = 8
MOST_DAYS = 36_500  # an expiry, a window, a validity: a hundred years
MOST_MINUTES = 10 * 366 * 24 * 60  # the offline grace: ten years
#: A sale's points breakdown lists the base points, the tier bonus and each promotion.
MAX_PROMOTIONS = MAX_ENTRIES - 2


class _Reader:
    """Reads typed values out of a TOML table, recording problems instead of stopping at the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.problems.append(f"[{key}]: must be a table")
            return {}
        self.unknown(value, key, allowed)
        return value

    def unknown(self, data: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.problems.append(f"{where}.{key}: unknown key")

    def string(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: str | None = None,
        at_most: int = MAX_ID,
    ) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            self.problems.append(f"{where}.{key}: must be a non-empty string")
            return default or ""
        if problem := text_problem(value, at_most, f"{where}.{key}"):
            self.problems.append(problem)
        return value

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: int | None = None,
        at_most: int = MAX_POINTS,  # a bonus, a day's offline cap, points that pay one unit
        at_least: int = 0,
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{where}.{key}: must be a whole number")
            return 0
        if value < at_least:
            floor = "must not be negative" if at_least == 0 else f"must be at least {at_least}"
            self.problems.append(f"{where}.{key}: {floor} (got {value})")
            return 0
        if value > at_most:
            self.problems.append(f"{where}.{key}: must be at most {at_most} (got {value})")
            return 0
        return value

    def decimal(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: str | None = None,
        at_most: Decimal = MOST_MONEY,
    ) -> Decimal:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problems.append(f'{where}.{key}: must be a decimal string such as "1.00"')
            return Decimal(0)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.problems.append(f"{where}.{key}: {value!r} is not a number")
            return Decimal(0)
        if not number.is_finite():
            self.problems.append(f"{where}.{key}: {value!r} is not a number")
            return Decimal(0)
        if number < 0:
            self.problems.append(f"{where}.{key}: must not be negative (got {value})")
            return Decimal(0)
        if number > at_most:
            self.problems.append(f"{where}.{key}: must be at most {at_most} (got {value})")
            return Decimal(0)
        exponent = number.as_tuple().exponent  # an int: the number is finite
        if isinstance(exponent, int) and -exponent > MOST_DECIMALS:
            self.problems.append(
                f"{where}.{key}: at most {MOST_DECIMALS} decimal places (got {value})"
            )
            return Decimal(0)
        return number

    def boolean(self, data: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problems.append(f"{where}.{key}: must be true or false")
            return default
        return value

    def day(self, data: Mapping[str, Any], key: str, where: str) -> date | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.problems.append(f"{where}.{key}: must be a date YYYY-MM-DD")
        return None


_PROMO_KEYS: dict[str, set[str]] = {
    "threshold_bonus": {"min_spend", "bonus"},
    "category_multiplier": {"category", "multiplier"},
    "nth_free": {"sku", "every", "scope"},
    "birthday_bonus": {"bonus", "window_days"},
    "cashback": {"category", "percent", "valid_days"},
}
_COMMON_PROMO_KEYS = {"id", "kind", "name", "starts", "ends", "weekdays"}


def _may_run_together(a: Promotion, b: Promotion) -> bool:
    """Whether some day has both promotions active: their date ranges meet and their
    weekdays (none: every day) share one."""
    if a.ends and b.starts and a.ends < b.starts or b.ends and a.starts and b.ends < a.starts:
        return False
    return not a.weekdays or not b.weekdays or bool(a.weekdays & b.weekdays)


def _free_unit_clashes(promotions: Sequence[Promotion]) -> list[str]:
    """A SKU has one free-unit rule on a day: a sale takes the first that matches, so a second
    ``nth_free`` of the same SKU that may run on the same day would never apply (QA: a basket
    "2 for 1" listed after a member punch card on COFFEE, silently ignored)."""
    free = [p for p in promotions if p.kind == "nth_free"]
    return [
        f"promotions: {b.id!r} and {a.id!r} both make units of {a.sku} free and may run on the "
        "same day; a sale applies one of them only: give them starts/ends or weekdays apart"
        for i, a in enumerate(free)
        for b in free[i + 1 :]
        if a.sku == b.sku and _may_run_together(a, b)
    ]


def _promotion(r: _Reader, raw: Any, index: int) -> Promotion | None:
    where = f"promotions[{index}]"
    if not isinstance(raw, Mapping):
        r.problems.append(f"{where}: must be a table")
        return None
    kind = raw.get("kind")
    if kind not in PROMOTION_KINDS:
        r.problems.append(
            f"{where}.kind: unknown promotion kind {kind!r} (known: {', '.join(PROMOTION_KINDS)})"
        )
        return None
    r.unknown(raw, where, _COMMON_PROMO_KEYS | _PROMO_KEYS[kind])
    promo_id = r.string(raw, "id", where)
    weekdays = raw.get("weekdays", [])
    if not isinstance(weekdays, list) or any(d not in WEEKDAYS for d in weekdays):
        r.problems.append(f"{where}.weekdays: must be a list of {', '.join(WEEKDAYS)}")
        weekdays = []
    common: dict[str, Any] = {
        "id": promo_id,
        "kind": kind,
        "name": _promotion_name(r, raw, where, promo_id),
        "starts": r.day(raw, "starts", where),
        "ends": r.day(raw, "ends", where),
        "weekdays": frozenset(weekdays),
    }
    if common["starts"] and common["ends"] and common["starts"] > common["ends"]:
        r.problems.append(f"{where}.ends: is before starts")
    if kind == "threshold_bonus":
        return Promotion(
            **common,
            min_spend=r.decimal(raw, "min_spend", where),
            bonus=r.integer(raw, "bonus", where),
        )
    if kind == "category_multiplier":
        multiplier = _multiplier(r, raw, where)
        return Promotion(
            **common,
            category=r.string(raw, "category", where, at_most=MAX_TEXT),
            multiplier=multiplier,
        )
    if kind == "nth_free":
        every = r.integer(raw, "every", where, at_least=2)
        scope = raw.get("scope", "basket")
        if scope not in ("basket", "member"):
            r.problems.append(f'{where}.scope: must be "basket" or "member"')
        return Promotion(**common, sku=r.string(raw, "sku", where), every=every, scope=str(scope))
    if kind == "birthday_bonus":
        return Promotion(
            **common,
            bonus=r.integer(raw, "bonus", where),
            window_days=r.integer(raw, "window_days", where, 0, MOST_DAYS),
        )
    percent = r.decimal(raw, "percent", where)
    if percent > 100:
        r.problems.append(f"{where}.percent: must be at most 100")
    valid_days = r.integer(raw, "valid_days", where, at_most=MOST_DAYS, at_least=1)
    return Promotion(
        **common,
        category=r.string(raw, "category", where, at_most=MAX_TEXT),
        percent=percent,
        valid_days=valid_days,
    )


def _multiplier(
    r: _Reader, raw: Mapping[str, Any], where: str, default: str | None = None
) -> Decimal:
    """A multiplier of 1 or more; one problem per wrong value (a value that is no number is not
    also said to be below 1)."""
    said = len(r.problems)
    multiplier = r.decimal(raw, "multiplier", where, default, MOST_RATE)
    if len(r.problems) == said and multiplier < 1:
        r.problems.append(f"{where}.multiplier: must be at least 1")
    return multiplier


def _promotion_name(r: _Reader, raw: Mapping[str, Any], where: str, promo_id: str) -> str:
    """The name shown on receipts: the id when there is none (or it is not text), as ever."""
    name = raw.get("name", promo_id)
    if not isinstance(name, str):
        return promo_id
    if problem := text_problem(name, MAX_TEXT, f"{where}.name"):
        r.problems.append(problem)
    return name


def _check_minor_unit(problems: list[str], key: str, amount: Decimal, currency: str) -> None:
    """Money is kept in the currency's minor units: an amount finer than that (a spend of
    "100.005") could never be met at the cent and would show as "0.005" to the next tier."""
    if amount and amount != amount.quantize(minor_unit(currency)):
        problems.append(f"{key}: more decimals than {currency} has")


def parse_program(data: Mapping[str, Any], source: str = "program.toml") -> Program:
    """A validated Program, or ConfigError listing every problem (each names ``source`` and the key)."""
    problems: list[str] = []
    r = _Reader(problems)
    r.unknown(data, "", {"program", "earn", "redeem", "expiry", "offline", "tiers", "promotions"})
    problems[:] = [p.lstrip(".") for p in problems]
    prog = r.table(data, "program", {"id", "name", "currency", "version"})
    currency = r.string(prog, "currency", "program", "EUR")
    if currency not in CURRENCY_EXPONENTS:
        problems.append(f"program.currency: unknown currency {currency!r}")
        currency = "EUR"
    version = r.integer(prog, "version", "program", 1, at_least=1)

    earn_t = r.table(
        data, "earn", {"points_per_unit", "excluded_categories", "earn_on_points_paid"}
    )
    excluded = earn_t.get("excluded_categories", [])
    if not isinstance(excluded, list) or not all(isinstance(c, str) for c in excluded):
        problems.append("earn.excluded_categories: must be a list of category names")
        excluded = []
    earn = EarnRules(
        points_per_unit=r.decimal(earn_t, "points_per_unit", "earn", "1", MOST_RATE),
        excluded_categories=frozenset(excluded),
        earn_on_points_paid=r.boolean(earn_t, "earn_on_points_paid", "earn", False),
    )

    red_t = r.table(data, "redeem", {"points_per_unit", "min_cash", "max_share", "min_points"})
    redeem = RedeemRules(
        points_per_unit=r.integer(red_t, "points_per_unit", "redeem", 100, at_least=1),
        min_cash=r.decimal(red_t, "min_cash", "redeem", "0"),
        max_share=r.decimal(red_t, "max_share", "redeem", "1", Decimal(1)),
        min_points=r.integer(red_t, "min_points", "redeem", 0),
    )
    _check_minor_unit(problems, "redeem.min_cash", redeem.min_cash, currency)

    exp_t = r.table(data, "expiry", {"days"})
    off_t = r.table(data, "offline", {"grace_minutes", "max_redeem_points_per_member_per_day"})
    offline = OfflinePolicy(
        grace_minutes=r.integer(off_t, "grace_minutes", "offline", 60, MOST_MINUTES),
        max_redeem_points_per_member_per_day=r.integer(
            off_t, "max_redeem_points_per_member_per_day", "offline", 0
        ),
    )

    tiers_t = r.table(data, "tiers", {"window_days", "levels"})
    levels_raw = tiers_t.get("levels", [{"name": "Member", "min_spend": "0", "multiplier": "1"}])
    tiers: list[Tier] = []
    if not isinstance(levels_raw, list) or not levels_raw:
        problems.append("tiers.levels: must be a non-empty list of tiers")
        levels_raw = []
    for i, level in enumerate(levels_raw):
        where = f"tiers.levels[{i}]"
        if not isinstance(level, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        r.unknown(level, where, {"name", "min_spend", "multiplier"})
        tier = Tier(
            r.string(level, "name", where, at_most=MAX_TEXT),
            r.decimal(level, "min_spend", where),
            _multiplier(r, level, where, "1"),
        )
        _check_minor_unit(problems, f"{where}.min_spend", tier.min_spend, currency)
        tiers.append(tier)
    if tiers:
        if tiers[0].min_spend != 0:
            problems.append("tiers.levels[0].min_spend: the first tier must start at 0")
        for i in range(1, len(tiers)):
            if tiers[i].min_spend <= tiers[i - 1].min_spend:
                problems.append(
                    f"tiers.levels[{i}].min_spend: thresholds overlap ({tiers[i].min_spend} is not "
                    f"above {tiers[i - 1].name}'s {tiers[i - 1].min_spend})"
                )
        if len({t.name for t in tiers}) != len(tiers):
            problems.append("tiers.levels: tier names must be unique")

    promos_raw = data.get("promotions", [])
    promotions: list[Promotion] = []
    if not isinstance(promos_raw, list):
        problems.append("promotions: must be a list of [[promotions]] tables")
        promos_raw = []
    for i, raw in enumerate(promos_raw):
        promo = _promotion(r, raw, i)
        if promo is not None:
            promotions.append(promo)
            if promo.kind == "threshold_bonus":
                _check_minor_unit(problems, f"promotions[{i}].min_spend", promo.min_spend, currency)
    if len({p.id for p in promotions}) != len(promotions):
        problems.append("promotions: ids must be unique")
    problems.extend(_free_unit_clashes(promotions))
    if len(promos_raw) > MAX_PROMOTIONS:
        problems.append(
            f"promotions: at most {MAX_PROMOTIONS} (a sale's points breakdown lists the base, the "
            f"tier and each promotion, {MAX_ENTRIES} entries at most), got {len(promos_raw)}"
        )

    program_id = r.string(prog, "id", "program")
    name = r.string(prog, "name", "program", at_most=MAX_TEXT)
    expiry_days = r.integer(exp_t, "days", "expiry", 365, MOST_DAYS)
    # an empty window counts no spend: every member would stay in the first tier for good
    tier_window_days = r.integer(tiers_t, "window_days", "tiers", 365, MOST_DAYS, at_least=1)
    if problems:
        raise ConfigError(source, problems)
    return Program(
        id=program_id,
        name=name,
        currency=currency,
        version=version,
        earn=earn,
        redeem=redeem,
        expiry_days=expiry_days,
        offline=offline,
        tier_window_days=tier_window_days,
        tiers=tuple(tiers),
        promotions=tuple(promotions),
        source=data,
    )


def parse_program_text(text: str, source: str = "program.toml") -> Program:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [f"not valid TOML: {e}"]) from e
    return parse_program(data, source)


def program_to_json(program: Program) -> dict[str, Any]:
    """The program's source table with dates as strings: what is stored and sent to the ledger."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, date):
            return value.isoformat()
        return value

    return dict(plain(program.source))
