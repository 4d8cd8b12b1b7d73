"""Every step of the checkout computation (DESIGN.md §5), in the order the design gives."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal as D

import pytest

from loyalty_pos.domain.errors import RedeemRefused, Refused
from loyalty_pos.domain.events import MAX_LINES, MAX_POINTS
from loyalty_pos.domain.money import MAX_MINOR, parse_money, parse_typed_amount
from loyalty_pos.domain.quote import (
    MAX_QTY,
    BasketLine,
    MemberState,
    cap_reason,
    punch_cards,
    quote,
)

from .programs import program

NOW = datetime(2026, 11, 22, 14, 0)  # a Sunday


def line(
    sku: str = "X", price: str = "10.00", qty: int = 1, category: str = "grocery"
) -> BasketLine:
    return BasketLine(sku, sku.title(), qty, D(price), category)


def member(balance: int = 0, tier: str = "Malachite", **kw: object) -> MemberState:
    return MemberState("M1", balance, tier, D(kw.pop("spend", "0")), **kw)  # type: ignore[arg-type]


def test_line_totals_and_base_points_without_promotions() -> None:
    q = quote(program(), [line(price="12.50", qty=2), line("Y", "3.99")], member(), NOW)
    assert q.total == D("28.99")
    assert q.due == D("28.99")
    assert q.points_earned == 28
    assert [(b.rule, b.points) for b in q.breakdown] == [("base", 28)]


def test_excluded_categories_earn_nothing() -> None:
    q = quote(
        program(), [line(price="20.00"), line("CIG", "8.50", category="tobacco")], member(), NOW
    )
    assert q.total == D("28.50")
    assert q.base == D("20.00")
    assert q.points_earned == 20


def test_quantity_must_be_positive_and_price_not_negative() -> None:
    with pytest.raises(Refused):
        line(qty=0)
    with pytest.raises(Refused):
        line(price="-1.00")
    assert line(qty=MAX_QTY).qty == MAX_QTY
    with pytest.raises(Refused, match=f"from 1 to {MAX_QTY}"):
        line(qty=MAX_QTY + 1)


def test_a_basket_over_the_largest_amount_is_refused_not_overflowed() -> None:
    largest = D(MAX_MINOR).scaleb(-2)  # EUR
    assert quote(program(), [line(price=str(largest))], None, NOW).total == largest
    with pytest.raises(Refused, match="largest amount 100,000,000,000.00 EUR"):
        quote(program(), [line(price=str(largest)), line("Y", "0.01")], None, NOW)


def test_a_basket_of_more_lines_than_an_event_carries_is_refused() -> None:
    lines = [line(f"S{i}", "1.00") for i in range(MAX_LINES)]
    assert len(quote(program(), lines, member(), NOW).lines) == MAX_LINES
    with pytest.raises(Refused, match=f"at most {MAX_LINES} lines"):
        quote(program(), [*lines, line("ONE-MORE")], member(), NOW)


def test_a_sale_pays_at_most_the_points_an_event_carries() -> None:
    rich = member(balance=3 * MAX_POINTS)
    big = [line(price="50000000000.00")]  # 5 * 10**12 points' worth, the balance 3 * 10**12
    q = quote(program(), big, rich, NOW, "max")
    assert (q.points_redeemed, q.cap.rule) == (MAX_POINTS, "max_points")
    assert q.due == D("40000000000.00")
    assert quote(program(), big, rich, NOW, MAX_POINTS).points_redeemed == MAX_POINTS
    with pytest.raises(RedeemRefused, match="at most 1,000,000,000,000 points") as e:
        quote(program(), big, rich, NOW, MAX_POINTS + 1)
    assert e.value.limit == "max_points"


def test_a_basket_earning_more_points_than_an_event_carries_is_refused() -> None:
    rich = program(earn={"points_per_unit": 20})
    assert quote(rich, [line(price="50000000000.00")], member(), NOW).points_earned == 10**12
    with pytest.raises(Refused, match="1,000,000,000,001 points, more than one sale may"):
        quote(rich, [line(price="50000000000.00"), line("Y", "0.05")], member(), NOW)


@pytest.mark.parametrize("text", ["1e400", "-1e400", "100000000000.01", "1E+11.5"])
def test_amounts_beyond_the_largest_or_not_numbers_are_refused(text: str) -> None:
    with pytest.raises(Refused, match=re.escape(repr(text))):
        parse_money(text, "EUR")
    assert parse_money("100000000000.00", "EUR") == D(MAX_MINOR).scaleb(-2)


@pytest.mark.parametrize("text", ["9" * 5000, "x" * 5000, "1." + "1" * 5000], ids=["9", "x", "1.1"])
def test_an_amount_pasted_with_thousands_of_characters_is_said_by_its_start(text: str) -> None:
    """QA: the till's free-amount window said all 5,000 digits, its keys pushed off the screen."""
    with pytest.raises(Refused) as refused:
        parse_typed_amount(text, "EUR")
    said = str(refused.value)
    assert len(said) < 200 and f"{text[:32]!r}... ({len(text)} characters)" in said


def test_basket_scope_nth_free_makes_every_third_unit_free() -> None:
    p = program([{"id": "3for2", "kind": "nth_free", "sku": "SOAP", "every": 3, "scope": "basket"}])
    q = quote(p, [line("SOAP", "2.00", qty=7)], member(), NOW)
    assert q.lines[0].free_units == 2
    assert q.total == D("10.00")
    assert q.discount == D("4.00")
    assert q.points_earned == 10  # free units earn nothing


def test_member_punch_card_counts_across_visits() -> None:
    p = program(
        [{"id": "coffee", "kind": "nth_free", "sku": "COFFEE", "every": 6, "scope": "member"}]
    )
    q = quote(p, [line("COFFEE", "2.40", qty=2)], member(punch={"COFFEE": 5}), NOW)
    assert q.lines[0].free_units == 1  # the 6th coffee
    assert q.punch_after == {"COFFEE": 1}  # the 7th starts the card again
    assert q.total == D("2.40")


def test_a_punch_counter_below_zero_is_bought_back_before_the_next_free_unit() -> None:
    """-5: a refund took back 5 punches whose free unit a later sale had given."""
    p = program(
        [{"id": "coffee", "kind": "nth_free", "sku": "COFFEE", "every": 6, "scope": "member"}]
    )
    q = quote(p, [line("COFFEE", "2.40", qty=5)], member(punch={"COFFEE": -5}), NOW)
    assert (q.lines[0].free_units, q.punch_after) == (0, {"COFFEE": 0})
    q = quote(p, [line("COFFEE", "2.40", qty=11)], member(punch={"COFFEE": -5}), NOW)
    assert (q.lines[0].free_units, q.punch_after) == (1, {"COFFEE": 0})


def test_a_running_total_punch_counter_counts_from_its_last_multiple() -> None:
    """A counter of 8 (two offline tills' 5 and 3 added up, or an earlier release's running
    total): 2 toward the next free unit, so the 4th coffee now is free."""
    p = program(
        [{"id": "coffee", "kind": "nth_free", "sku": "COFFEE", "every": 6, "scope": "member"}]
    )
    q = quote(p, [line("COFFEE", "2.40", qty=4)], member(punch={"COFFEE": 8}), NOW)
    assert (q.lines[0].free_units, q.punch_after) == (1, {"COFFEE": 0})


def test_a_punch_card_tells_how_many_more_until_the_free_one() -> None:
    """The 6th coffee free: 5 paid slots on the card, as the panel and the receipt say it."""
    p = program(
        [
            {"id": "coffee", "name": "Coffee card", "kind": "nth_free", "sku": "COFFEE",
             "every": 6, "scope": "member"},
            {"id": "soap", "kind": "nth_free", "sku": "SOAP", "every": 3, "scope": "basket"},
            {"id": "tea", "kind": "nth_free", "sku": "TEA", "every": 4, "scope": "member",
             "ends": "2026-11-01"},
        ]
    )  # fmt: skip

    def card(counter: int | None) -> tuple[int, int, str]:
        punch = {} if counter is None else {"COFFEE": counter}
        (only,) = punch_cards(p, punch, NOW)  # the basket deal and the ended card are not cards
        assert (only.promotion, only.name, only.sku, only.every) == (
            "coffee", "Coffee card", "COFFEE", 6
        )  # fmt: skip
        return only.punches, only.to_free, only.progress

    assert card(None) == (0, 5, "0 of 5, free after 5 more")
    assert card(3) == (3, 2, "3 of 5, free after 2 more")
    assert card(5) == (5, 0, "next one free")
    assert card(8) == (2, 3, "2 of 5, free after 3 more")  # a running total (see above)
    assert card(-5) == (-5, 10, "free after 10 more")  # punches a refund took back
    # what the card says is what the next sale does: the unit after ``to_free`` paid is free
    for counter in (-5, 0, 3, 5, 8):
        to_free = card(counter)[1]
        q = quote(
            p, [line("COFFEE", "2.40", qty=to_free + 1)], member(punch={"COFFEE": counter}), NOW
        )
        assert q.lines[0].free_units == 1
        if to_free:
            q = quote(
                p, [line("COFFEE", "2.40", qty=to_free)], member(punch={"COFFEE": counter}), NOW
            )
            assert q.lines[0].free_units == 0


def test_punch_card_needs_a_member() -> None:
    p = program(
        [{"id": "coffee", "kind": "nth_free", "sku": "COFFEE", "every": 2, "scope": "member"}]
    )
    q = quote(p, [line("COFFEE", "2.40", qty=4)], None, NOW)
    assert q.lines[0].free_units == 0
    assert q.points_earned == 0


def test_points_payment_charges_exactly_the_points_for_whole_cents() -> None:
    q = quote(program(), [line(price="10.00")], member(balance=1000), NOW, redeem=450)
    assert q.points_value == D("4.50")
    assert q.points_redeemed == 450
    assert q.due == D("5.50")


def test_points_payment_with_ten_points_per_unit_never_loses_a_fraction() -> None:
    p = program(redeem={"points_per_unit": 10})
    q = quote(p, [line(price="10.00")], member(balance=1000), NOW, redeem=37)
    assert q.points_redeemed == 37
    assert q.points_value == D("3.70")


def test_points_payment_never_leaves_less_than_min_cash() -> None:
    with pytest.raises(RedeemRefused) as e:
        quote(program(), [line(price="10.00")], member(balance=5000), NOW, redeem=950)
    assert e.value.limit == "min_cash"
    q = quote(program(), [line(price="10.00")], member(balance=5000), NOW, redeem="max")
    assert q.due == D("1.00")
    assert q.cap.rule == "min_cash"


def test_nothing_can_be_paid_with_points_when_total_is_at_most_min_cash() -> None:
    q = quote(program(), [line(price="0.90")], member(balance=5000), NOW, redeem="max")
    assert q.points_redeemed == 0
    with pytest.raises(RedeemRefused) as e:
        quote(program(), [line(price="0.90")], member(balance=5000), NOW, redeem=10)
    assert e.value.limit == "min_cash"


def test_max_share_caps_the_points_payment() -> None:
    p = program(redeem={"max_share": "0.5", "min_cash": "0"})
    q = quote(p, [line(price="30.00")], member(balance=10_000), NOW, redeem="max")
    assert (q.points_value, q.cap.rule) == (D("15.00"), "max_share")
    with pytest.raises(RedeemRefused) as e:
        quote(p, [line(price="30.00")], member(balance=10_000), NOW, redeem=1600)
    assert e.value.limit == "max_share"


@pytest.mark.parametrize(
    ("rules", "price", "offline_cap", "redeem", "limit", "said"),
    [
        # QA: 700 points on a 5.95 basket, half of it payable: "points can pay at most 4.95
        # EUR", and 495 typed then was refused for the share
        (
            {"max_share": "0.5", "min_cash": "1.00"},
            "5.95",
            None,
            700,
            "max_share",
            "Points may pay at most 50% of the total (2.97 EUR).",
        ),
        (
            {"max_share": "0.5", "min_cash": "1.00"},
            "1.50",
            None,
            100,
            "min_cash",
            "At least 1.00 EUR must be paid in money; points can pay at most 0.50 EUR of 1.50 EUR.",
        ),
        (
            {"max_share": "0.5", "min_cash": "1.00"},
            "30.00",
            200,
            2000,
            "offline_cap",
            "Offline, this member can pay at most 200 more points today.",
        ),
    ],
)
def test_a_points_payment_over_several_limits_names_the_tightest(
    rules: dict[str, str], price: str, offline_cap: int | None, redeem: int, limit: str, said: str
) -> None:
    """Its sentence says how much points can pay: the most of the limit that allows the least,
    not of the first limit checked, which would allow more than the next one does."""
    p = program(redeem=rules)
    with pytest.raises(RedeemRefused) as e:
        quote(p, [line(price=price)], member(balance=10_000), NOW, redeem, offline_cap=offline_cap)
    assert (e.value.limit, str(e.value)) == (limit, said)


def test_balance_caps_the_points_payment() -> None:
    q = quote(program(), [line(price="30.00")], member(balance=250), NOW, redeem="max")
    assert (q.points_redeemed, q.cap.rule) == (250, "balance")  # 250 points buy exactly 2.50
    assert (
        quote(
            program(), [line(price="30.00")], member(balance=250), NOW, redeem=250
        ).points_redeemed
        == 250
    )
    with pytest.raises(RedeemRefused) as e:
        quote(program(), [line(price="30.00")], member(balance=250), NOW, redeem=300)
    assert e.value.limit == "balance"


@pytest.mark.parametrize(
    ("rules", "price", "balance", "redeem", "said"),
    [
        # QA: 0.995 read "100%", 0.125 "12%"
        ({"max_share": "0.995", "min_cash": "0"}, "10.00", 5000, 1000, "at most 99.5% of"),
        ({"max_share": "0.125", "min_cash": "0"}, "10.00", 5000, 200, "at most 12.5% of"),
        # QA: "at least 0 EUR must be paid in money" when the total is what caps the points
        ({"min_cash": "0"}, "5.00", 5000, 600, "Points can pay at most the total (5.00 EUR)."),
        ({"min_cash": "1"}, "5.00", 5000, 600, "At least 1.00 EUR must be paid in money"),
        # QA: "below the smallest redemption (10 points)" with min_points 0: 1000 points a unit
        # make 0.01 cost 10 points, which is no rule of the program's
        (
            {"points_per_unit": 1000, "min_cash": "0"},
            "5.00",
            5000,
            5,
            "5 points are below what the smallest amount points pay costs (0.01 EUR = 10 points).",
        ),
        (
            {"points_per_unit": 1000, "min_cash": "0"},
            "5.00",
            5000,
            1,
            "1 point is below what the smallest amount points pay costs (0.01 EUR = 10 points).",
        ),
        # QA: "196 points asked" for 200 at 7 points a unit: the number asked, and what is charged
        (
            {"points_per_unit": 7, "min_cash": "0"},
            "50.00",
            106,
            200,
            "200 points asked (196 of them pay 28.00 EUR) but the balance is 106.",
        ),
    ],
)
def test_a_refused_points_payment_says_the_limit_as_the_program_set_it(
    rules: dict[str, object], price: str, balance: int, redeem: int, said: str
) -> None:
    with pytest.raises(RedeemRefused) as e:
        quote(program(redeem=rules), [line(price=price)], member(balance=balance), NOW, redeem)
    assert said in str(e.value)


def test_the_points_window_says_the_limit_as_the_program_set_it() -> None:
    def because(rules: dict[str, object], price: str = "10.00") -> str:
        p = program(redeem=rules)
        return cap_reason(quote(p, [line(price=price)], member(balance=5000), NOW).cap, p)

    assert because({"max_share": "0.995", "min_cash": "0"}) == (
        "points may pay at most 99.5% of the total"
    )
    assert because({"min_cash": "0"}, "5.00") == "points can pay at most the total"
    assert because({"min_cash": "2"}, "5.00") == "at least 2.00 EUR must be paid in money"


def test_min_points_refuses_small_redemptions() -> None:
    p = program(redeem={"min_points": 500})
    with pytest.raises(RedeemRefused) as e:
        quote(p, [line(price="30.00")], member(balance=5000), NOW, redeem=100)
    assert e.value.limit == "min_points"


@pytest.mark.parametrize(
    ("rules", "basket", "balance", "offline_cap", "under", "said"),
    [
        # 5.50 - 5.00 of money leaves 0.50 = 5 points; the member has 970.
        (
            {"min_cash": "5.00"},
            "5.50",
            970,
            None,
            "min_cash",
            "at least 5.00 EUR must be paid in money; what that leaves for points is below the "
            "smallest points payment (50)",
        ),
        (
            {"min_cash": "0", "max_share": "0.3"},
            "1.00",
            970,
            None,
            "max_share",
            "points may pay at most 30% of the total; that is below the smallest points "
            "payment (50)",
        ),
        (
            {"min_cash": "0"},
            "90.00",
            970,
            40,
            "offline_cap",
            "the terminal is offline: a member may pay at most 5000 points a day here; what is "
            "left of them today is below the smallest points payment (50)",
        ),
        (
            {"min_cash": "0"},
            "90.00",
            40,
            None,
            "balance",
            "the balance is below the smallest points payment (50)",
        ),
    ],
)
def test_max_under_min_points_names_the_limit_that_bit_not_the_balance(
    rules: dict[str, object],
    basket: str,
    balance: int,
    offline_cap: int | None,
    under: str,
    said: str,
) -> None:
    """``--redeem max`` (and F5's "Because"): when the tightest limit leaves less than the
    smallest points payment, nothing is paid and the sentence names that limit."""
    p = program(redeem={"points_per_unit": 10, "min_points": 50, **rules})
    q = quote(p, [line(price=basket)], member(balance=balance), NOW, "max", offline_cap=offline_cap)
    assert (q.points_redeemed, q.cap.rule, q.cap.under) == (0, "min_points", under)
    assert cap_reason(q.cap, p) == said


def test_frozen_provisional_and_negative_members_cannot_pay_with_points() -> None:
    for status, limit in (("frozen", "frozen"), ("provisional", "provisional")):
        with pytest.raises(RedeemRefused) as e:
            quote(program(), [line()], member(balance=500, status=status), NOW, redeem=100)
        assert e.value.limit == limit
    with pytest.raises(RedeemRefused) as e:
        quote(program(), [line()], member(balance=-5), NOW, redeem=100)
    assert e.value.limit == "negative_balance"


def test_frozen_member_checkout_is_refused_even_without_points() -> None:
    with pytest.raises(Refused, match="frozen"):
        quote(program(), [line()], member(status="frozen"), NOW)


def test_offline_cap_bounds_redemption() -> None:
    with pytest.raises(RedeemRefused) as e:
        quote(
            program(), [line(price="90")], member(balance=9000), NOW, redeem=3000, offline_cap=2000
        )
    assert e.value.limit == "offline_cap"
    q = quote(
        program(), [line(price="90")], member(balance=9000), NOW, redeem="max", offline_cap=2000
    )
    assert (q.points_redeemed, q.cap.rule) == (2000, "offline_cap")


def test_earning_base_excludes_the_part_paid_with_points() -> None:
    q = quote(program(), [line(price="20.00")], member(balance=1000), NOW, redeem=1000)
    assert q.due == D("10.00")
    assert q.base == D("10.00")
    assert q.points_earned == 10


def test_the_earning_base_of_a_sale_part_paid_with_points_is_its_money_part_to_the_cent() -> None:
    """base = eligible x due / total, exact before it is floored: 60.00 paid in money of a
    110.25 basket is a base of 60.00 (the threshold bonus is reached), not 59.99; 1.00 of 3.90
    earns its point."""
    spend60 = {"id": "spend60", "kind": "threshold_bonus", "min_spend": "60.00", "bonus": 5000}
    basket = [line("ESP", "1.95", 7), line("MILK", "19.32", 5)]  # 13.65 + 96.60 = 110.25
    q = quote(program([spend60]), basket, member(balance=10_000), NOW, redeem=5025)
    assert (q.total, q.due, q.base) == (D("110.25"), D("60.00"), D("60.00"))
    assert [(b.rule, b.points) for b in q.breakdown] == [("base", 60), ("promo:spend60", 5000)]
    q = quote(program(), [line("ESP", "1.95", 2)], member(balance=10_000), NOW, redeem="max")
    assert (q.due, q.base, q.points_earned) == (D("1.00"), D("1.00"), 1)


def test_every_money_part_of_a_basket_of_one_category_is_its_whole_earning_base() -> None:
    """Over many totals and points payments: with nothing excluded, base == due exactly."""
    p = program(redeem={"min_cash": "0"})
    for cents in range(101, 20000, 37):
        total = D(cents).scaleb(-2)
        for redeem in (100, 2500, cents - 100):
            if redeem <= 0 or redeem > cents:
                continue
            q = quote(p, [line(price=str(total))], member(balance=10**6), NOW, redeem=redeem)
            assert q.base == q.due, (total, redeem)


def test_earning_base_includes_points_paid_when_the_program_says_so() -> None:
    p = program(earn={"earn_on_points_paid": True})
    q = quote(p, [line(price="20.00")], member(balance=1000), NOW, redeem=1000)
    assert q.points_earned == 20


def test_tier_bonus_uses_the_tier_before_the_checkout() -> None:
    q = quote(program(), [line(price="41.00")], member(tier="Sapphire", spend="1000"), NOW)
    assert [(b.rule, b.points) for b in q.breakdown] == [("base", 41), ("tier", 10)]


def test_checkout_that_crosses_a_threshold_reports_the_new_tier() -> None:
    q = quote(program(), [line(price="50.00")], member(spend="960"), NOW)
    assert q.tier_before == "Malachite"
    assert q.tier_after is not None and q.tier_after.tier.name == "Sapphire"
    assert q.points_earned == 50  # no bonus yet: the tier as it stood before


def test_threshold_bonus_only_when_base_reaches_min_spend_inside_its_dates() -> None:
    promo = {
        "id": "spend60",
        "kind": "threshold_bonus",
        "min_spend": "60.00",
        "bonus": 5000,
        "starts": "2026-11-01",
        "ends": "2026-12-31",
    }
    p = program([promo])
    assert quote(p, [line(price="60.00")], member(), NOW).points_earned == 5060
    assert quote(p, [line(price="59.99")], member(), NOW).points_earned == 59
    assert quote(p, [line(price="60.00")], member(), datetime(2027, 1, 1, 9)).points_earned == 60


def test_category_multiplier_on_its_weekdays_only() -> None:
    promo = {
        "id": "wb",
        "kind": "category_multiplier",
        "category": "cosmetics",
        "multiplier": "2",
        "weekdays": ["sat", "sun"],
    }
    p = program([promo])
    basket = [line("MASCARA", "12.95", category="cosmetics"), line(price="5.00")]
    sunday = quote(p, basket, member(), NOW)
    assert [(b.rule, b.points) for b in sunday.breakdown] == [("base", 17), ("promo:wb", 12)]
    monday = quote(p, basket, member(), datetime(2026, 11, 23, 10))
    assert monday.points_earned == 17


def test_a_category_multiplier_of_many_decimals_on_a_large_basket_is_floored_exactly() -> None:
    # 27,143,910,913.59 x 1.43508949 x 0.88114589 = 34,324,105,248.99999999999999998...
    promo = {"id": "x", "kind": "category_multiplier", "category": "grocery"}
    p = program([promo | {"multiplier": "1.88114589"}], earn={"points_per_unit": "1.43508949"})
    q = quote(p, [line(price="27143910913.59")], member(), NOW)
    assert [(b.rule, b.points) for b in q.breakdown] == [
        ("base", 38_953_941_269),
        ("promo:x", 34_324_105_248),
    ]


def test_birthday_bonus_within_the_window_and_once_a_year() -> None:
    p = program([{"id": "bd", "kind": "birthday_bonus", "bonus": 500, "window_days": 7}])
    m = member(birthday=date(1990, 11, 27))
    assert quote(p, [line()], m, NOW).points_earned == 510
    assert quote(p, [line()], member(birthday=date(1990, 12, 5)), NOW).points_earned == 10
    given = member(birthday=date(1990, 11, 27), last_birthday_bonus=date(2026, 11, 20))
    assert quote(p, [line()], given, NOW).points_earned == 10


def test_birthday_window_wraps_around_new_year() -> None:
    p = program([{"id": "bd", "kind": "birthday_bonus", "bonus": 500, "window_days": 7}])
    m = member(birthday=date(1985, 1, 2))
    assert quote(p, [line()], m, datetime(2026, 12, 29, 10)).birthday_awarded


def test_a_birthday_on_29_february_is_the_28th_in_a_common_year_and_a_bonus_a_year() -> None:
    """On the day itself (a window of 0): 28 February in 2027, 29 February in 2028, never
    1 March; each year's bonus comes, 365 and 366 days apart."""
    p = program([{"id": "bd", "kind": "birthday_bonus", "bonus": 500, "window_days": 0}])
    leapling = date(1996, 2, 29)

    def awarded(day: date, last: date | None = None) -> bool:
        m = member(birthday=leapling, last_birthday_bonus=last)
        return quote(p, [line()], m, datetime(day.year, day.month, day.day, 10)).birthday_awarded

    assert [awarded(d) for d in (date(2027, 2, 28), date(2027, 3, 1))] == [True, False]
    assert [awarded(d) for d in (date(2028, 2, 28), date(2028, 2, 29))] == [False, True]
    assert awarded(date(2028, 2, 29), last=date(2027, 2, 28))
    assert awarded(date(2029, 2, 28), last=date(2028, 2, 29))


def test_cashback_goes_into_its_own_short_lot() -> None:
    p = program(
        [{"id": "cb", "kind": "cashback", "category": "books", "percent": "10", "valid_days": 60}]
    )
    q = quote(p, [line("BOOK", "15.00", category="books")], member(), NOW)
    assert [(b.rule, b.points) for b in q.breakdown] == [("base", 15), ("promo:cb", 150)]
    assert [(lot.points, lot.expires_at) for lot in q.lots] == [
        (15, date(2027, 11, 22)),
        (150, date(2027, 1, 21)),
    ]


def test_sale_without_member_earns_nothing_but_is_priced() -> None:
    q = quote(program(), [line(price="9.99")], None, NOW)
    assert (q.total, q.due, q.points_earned, q.balance_after) == (D("9.99"), D("9.99"), 0, None)
    with pytest.raises(RedeemRefused) as e:
        quote(program(), [line()], None, NOW, redeem=100)
    assert e.value.limit == "no_member"


def test_new_balance_is_old_plus_earned_minus_redeemed() -> None:
    q = quote(program(), [line(price="20.00")], member(balance=700), NOW, redeem=500)
    assert q.balance_after == 700 + q.points_earned - 500


@pytest.mark.parametrize(
    ("typed", "currency", "amount"),
    [
        ("4,99", "EUR", "4.99"),
        ("4.5", "EUR", "4.50"),
        ("1000", "EUR", "1000.00"),
        ("1.000", "KWD", "1.000"),
    ],
)
def test_an_amount_typed_at_the_till_takes_a_decimal_comma(typed, currency, amount):
    assert str(parse_typed_amount(typed, currency)) == amount


@pytest.mark.parametrize("typed", ["1,000", "1.000", "12,500", "0", "-5", "1,000,000", "1e3", ""])
def test_an_amount_typed_at_the_till_that_may_mean_two_things_or_nothing_is_refused(typed):
    with pytest.raises(Refused):
        parse_typed_amount(typed, "EUR")


def _limits(caps: dict[str, int], total: D) -> tuple[dict[str, object], MemberState, int | None]:
    """The redeem rules, member and offline cap under which each limit in ``caps`` caps a points
    payment on a basket of ``total`` at that many points (100 points pay 1.00 EUR); the limits
    not named allow the whole basket."""
    rules: dict[str, object] = {"min_cash": "0", "max_share": "1.0"}
    balance, offline = 4 * 10**12, None
    for limit, cap in caps.items():
        if limit == "balance":
            balance = cap
        elif limit == "min_cash":
            rules["min_cash"] = str(total - D(cap) / 100)
        elif limit == "max_share":
            rules["max_share"] = str(D(cap) / (total * 100))
        elif limit == "offline_cap":
            offline = cap
        else:  # what one event may move: fixed
            assert (limit, cap) == ("max_points", MAX_POINTS)
    return rules, member(balance=balance), offline


CAPS = ["balance", "min_cash", "max_share", "offline_cap", "max_points"]


@pytest.mark.parametrize(("tight", "loose"), [(a, b) for a in CAPS for b in CAPS if a != b])
def test_a_points_payment_over_two_limits_names_the_one_that_caps_it(
    tight: str, loose: str
) -> None:
    """QA: the refusal named the first limit it checked (the most points one sale moves, then
    the balance, min_cash, max_share, the offline cap), not the one that caps what the member
    may pay: a cashier told 'the balance is 4000' asked for 4000 and was refused again. It
    names the limit `--redeem max` names (the F5 window's "Because"), with that limit's figure,
    and that many points are then taken."""
    if "max_points" in (tight, loose):  # 10**12 points: a basket worth 5 * 10**12 points
        total, asked = D("50000000000.00"), 3 * MAX_POINTS
        caps = {"max_points": MAX_POINTS}
        caps.setdefault(tight, MAX_POINTS // 2)
        caps.setdefault(loose, 2 * MAX_POINTS)
    else:
        total, asked = D("100.00"), 5000
        caps = {tight: 2000, loose: 4000}
    rules, m, offline = _limits(caps, total)
    p = program(redeem=rules)
    basket = [line(price=str(total))]
    most = quote(p, basket, m, NOW, "max", offline_cap=offline)
    assert (most.cap.rule, most.points_redeemed) == (tight, caps[tight])
    with pytest.raises(RedeemRefused) as e:
        quote(p, basket, m, NOW, asked, offline_cap=offline)
    assert e.value.limit == tight, str(e.value)
    said = {
        "balance": f"but the balance is {m.balance}.",
        "min_cash": "must be paid in money; points can pay at most",
        "max_share": "of the total",
        "offline_cap": f"Offline, this member can pay at most {offline} more points today.",
        "max_points": "One sale can pay at most 1,000,000,000,000 points",
    }
    assert said[tight] in str(e.value)
    assert quote(p, basket, m, NOW, caps[tight], offline_cap=offline).points_redeemed == caps[tight]


@pytest.mark.parametrize("limit", CAPS[:4])
@pytest.mark.parametrize("asked", [30, 60])
def test_a_points_payment_when_a_limit_leaves_less_than_min_points_says_nothing_can_be_paid(
    limit: str, asked: int
) -> None:
    """QA: with 40 points left under a limit and 50 the smallest payment, 30 points were refused
    as below the smallest payment, and 60 as over the limit: each answer sent the cashier to
    the other. Both say that no points can be paid, and why, in the words of `--redeem max`;
    the limit named is the one the number breaks."""
    rules, m, offline = _limits({limit: 40}, D("80.00"))
    p = program(redeem={**rules, "min_points": 50})
    basket = [line(price="80.00")]
    most = quote(p, basket, m, NOW, "max", offline_cap=offline)
    assert (most.points_redeemed, most.cap.rule, most.cap.under) == (0, "min_points", limit)
    with pytest.raises(RedeemRefused) as e:
        quote(p, basket, m, NOW, asked, offline_cap=offline)
    assert e.value.limit == ("min_points" if asked < 50 else limit)
    assert str(e.value) == f"No points can be paid: {cap_reason(most.cap, p)}."
