"""Program validation: every problem at once, each naming the file and the key."""

from __future__ import annotations

import copy

import pytest

from loyalty_pos.domain.errors import ConfigError
from loyalty_pos.domain.program import MAX_PROMOTIONS, parse_program, parse_program_text

from .programs import BASE


def test_example_program_has_all_five_promotion_kinds_and_four_tiers(program_text: str) -> None:
    p = parse_program_text(program_text)
    assert {x.kind for x in p.promotions} == {
        "threshold_bonus",
        "category_multiplier",
        "nth_free",
        "birthday_bonus",
        "cashback",
    }
    assert len(p.tiers) == 4


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("[earn]", "[earn]\nbonus_points = 3"), "earn.bonus_points: unknown key"),
        (
            ("points_per_unit = 1 ", 'points_per_unit = "lots" '),
            "earn.points_per_unit: 'lots' is not a number",
        ),
        (("min_points = 0", "min_points = -5"), "redeem.min_points: must not be negative"),
        (('currency = "EUR"', 'currency = "XYZ"'), "program.currency: unknown currency 'XYZ'"),
        (('min_spend = "500"', 'min_spend = "0"'), "tiers.levels[1].min_spend: thresholds overlap"),
        (
            ('kind = "cashback"', 'kind = "lottery"'),
            "promotions[4].kind: unknown promotion kind 'lottery'",
        ),
        (("\ndays = 365", "\ndays = 36.5"), "expiry.days: must be a whole number"),
        # numbers past any real program: refused by name, never an overflow later
        (('min_cash = "1.00"', 'min_cash = "1e400"'), "redeem.min_cash: must be at most"),
        (('max_share = "1.0"', 'max_share = "2"'), "redeem.max_share: must be at most 1"),
        (("\ndays = 365", "\ndays = 999999999"), "expiry.days: must be at most 36500"),
        (("window_days = 365 ", "window_days = 0 "), "tiers.window_days: must be at least 1"),
        (("grace_minutes = 60", "grace_minutes = 99999999999"), "offline.grace_minutes: must"),
        (
            ("points_per_unit = 1 ", "points_per_unit = 100000 "),
            "earn.points_per_unit: must be at most 10000",
        ),
        (('min_spend = "2500"', 'min_spend = "1e30"'), "tiers.levels[3].min_spend: must be at"),
        # money is kept in minor units: a spend finer than the currency's cent is a slip
        (
            ('min_spend = "2500"', 'min_spend = "2500.005"'),
            "tiers.levels[3].min_spend: more decimals than EUR has",
        ),
        (
            ('min_spend = "60.00"', 'min_spend = "60.001"'),
            "promotions[0].min_spend: more decimals than EUR has",
        ),
        (("bonus = ", "bonus = 9223372036854775807 #"), "promotions[0].bonus: must be at most"),
        # QA: a rate of 29 digits was rounded in a sale's arithmetic (a point too many)
        (
            ('max_share = "1.0"', 'max_share = "0.49999999999999999999999999999"'),
            "redeem.max_share: at most 8 decimal places",
        ),
        (
            ("points_per_unit = 1 ", 'points_per_unit = "0.999999999" '),
            "earn.points_per_unit: at most 8 decimal places (got 0.999999999)",
        ),
        # names and ids past what an event may carry to the ledger
        (('name = "Demo Rewards"', f'name = "{"n" * 201}"'), "program.name is 201 characters"),
        (('name = "Malachite"', f'name = "{"m" * 201}"'), "tiers.levels[0].name is 201"),
        (('id = "spend60"', f'id = "{"s" * 65}"'), "promotions[0].id is 65 characters"),
        (('name = "Spend 60, get 5000"', f'name = "{"s" * 201}"'), "promotions[0].name is 201"),
        # a receipt prints these names: one line of printable text
        (
            ('name = "Spend 60, get 5000"', 'name = "Spend 60\\u001b@"'),
            "promotions[0].name holds a control character (U+001B at position 9)",
        ),
        (('name = "Malachite"', 'name = "Mala\\nchite"'), "tiers.levels[0].name holds a control"),
    ],
)
def test_invalid_program_names_file_and_key(
    program_text: str, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in program_text
    with pytest.raises(ConfigError) as e:
        parse_program_text(program_text.replace(old, new, 1), "store/program.toml")
    assert e.value.source == "store/program.toml"
    assert any(expected in problem for problem in e.value.problems), e.value.problems
    assert str(e.value).startswith("store/program.toml: ")


def test_several_problems_are_reported_together(program_text: str) -> None:
    broken = program_text.replace("min_points = 0", "min_points = -1").replace(
        "\ndays = 365", '\ndays = "x"'
    )
    with pytest.raises(ConfigError) as e:
        parse_program_text(broken)
    assert len(e.value.problems) == 2


def test_not_toml_at_all() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_program_text("[program\nid=", "p.toml")


def program_dict() -> dict:
    return copy.deepcopy(BASE)


def test_a_program_has_at_most_as_many_promotions_as_a_breakdown_lists() -> None:
    promo = {"kind": "threshold_bonus", "min_spend": "10", "bonus": 5, "name": "Bonus"}
    base = program_dict()
    base["promotions"] = [{**promo, "id": f"p{i}"} for i in range(MAX_PROMOTIONS)]
    assert len(parse_program(base).promotions) == MAX_PROMOTIONS
    base["promotions"].append({**promo, "id": "one-more"})
    with pytest.raises(ConfigError) as e:
        parse_program(base)
    assert any(p.startswith(f"promotions: at most {MAX_PROMOTIONS}") for p in e.value.problems)


def test_two_free_unit_rules_for_one_sku_that_may_run_on_one_day_are_refused() -> None:
    """QA: a member punch card and a basket "2 for 1" on COFFEE were taken, and the second
    listed never applied, not even to a sale without a member."""
    card = {"id": "card", "kind": "nth_free", "sku": "COFFEE", "every": 3, "scope": "member"}
    two_for_one = {"id": "two", "kind": "nth_free", "sku": "COFFEE", "every": 2}
    base = program_dict()
    base["promotions"] = [card, two_for_one]
    with pytest.raises(ConfigError) as e:
        parse_program(base)
    assert e.value.problems == [
        "promotions: 'two' and 'card' both make units of COFFEE free and may run on the same "
        "day; a sale applies one of them only: give them starts/ends or weekdays apart"
    ]
    # apart in time, on other weekdays, or on other SKUs: each applies on its own days
    for apart in (
        {"starts": "2026-12-01", "ends": "2026-12-24"},
        {"weekdays": ["sat", "sun"]},
        {"sku": "TEA"},
    ):
        first = {**card, "ends": "2026-11-30"} if "starts" in apart else card
        first = {**first, "weekdays": ["mon"]} if "weekdays" in apart else first
        base["promotions"] = [first, {**two_for_one, **apart}]
        assert len(parse_program(base).promotions) == 2
    base["promotions"] = [
        {**card, "weekdays": ["mon", "sat"]},
        {**two_for_one, "weekdays": ["sat"]},
    ]
    with pytest.raises(ConfigError):
        parse_program(base)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version = 1 ", 'version = "two" ', "program.version: must be a whole number"),
        ("points_per_unit = 100 ", 'points_per_unit = "x" ', "redeem.points_per_unit: must be"),
        ("every = 6", 'every = "6"', "promotions[2].every: must be a whole number"),
        ("every = 6", "every = 1", "promotions[2].every: must be at least 2 (got 1)"),
        ("valid_days = 60", 'valid_days = "60"', "promotions[4].valid_days: must be a whole"),
        ("valid_days = 60", "valid_days = -3", "promotions[4].valid_days: must be at least 1"),
        ('multiplier = "2"', 'multiplier = "x2"', "tiers.levels[3].multiplier: 'x2' is not a"),
        ('multiplier = "2"\nweekdays', 'multiplier = "x"\nweekdays', "promotions[1].multiplier:"),
    ],
)
def test_one_wrong_value_is_one_problem(
    program_text: str, old: str, new: str, expected: str
) -> None:
    """QA: a wrong type was said twice, the second time as a bound it never broke
    ('valid_days = "60"': "must be a whole number" and "must be at least 1")."""
    assert old in program_text
    with pytest.raises(ConfigError) as e:
        parse_program_text(program_text.replace(old, new, 1))
    assert len(e.value.problems) == 1, e.value.problems
    assert e.value.problems[0].startswith(expected), e.value.problems


def test_a_category_multiplier_needs_its_multiplier(program_text: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_program_text(program_text.replace('multiplier = "2"\nweekdays', "weekdays", 1))
    assert e.value.problems == ['promotions[1].multiplier: must be a decimal string such as "1.00"']
