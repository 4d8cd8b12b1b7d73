"""The member on screen is the member as the cache holds them now: after a sync that pulled them,
a manager's adjustment from the CLI, or the same card scanned again."""

from __future__ import annotations

import dataclasses

from textual.widgets import Input

from loyalty_pos.bootstrap import open_terminal
from loyalty_pos.checkout import adjust
from loyalty_pos.config import LedgerConfig
from loyalty_pos.tui import app as app_module
from loyalty_pos.tui.screens.points import PointsScreen

from .conftest import ANNA
from .pilot import fill, notes, press, settle, text_in, until


def on_ledger(terminal) -> None:
    terminal.config = dataclasses.replace(
        terminal.config, ledger=LedgerConfig(url="http://127.0.0.1:9", sync_interval_s=3600)
    )


def member_panel(app) -> str:
    return text_in(app.checkout, "#member-lines")


def freeze(t, member_id: str = "M0001") -> None:
    with t.store.transaction() as conn:
        conn.execute("UPDATE members SET status = 'frozen' WHERE member_id = ?", (member_id,))


async def sync_now(pilot, app) -> None:
    before = len([n for n in notes(app) if n.startswith("Synced")])
    await press(pilot, "f12")
    await until(pilot, lambda: len([n for n in notes(app) if n.startswith("Synced")]) > before)
    await settle(pilot)


async def _anna_pays_with_points(pilot, app, item: str) -> None:
    """Anna's card, ``item``, and F5 twice: the most points she may pay."""
    await fill(pilot, ANNA)
    await fill(pilot, item)
    await press(pilot, "f5")
    await press(pilot, "f5")
    assert app.checkout.view.quote.points_redeemed > 0


async def test_a_sync_that_lowered_the_balance_shows_it_and_f5_offers_only_that(make_app, terminal):
    adjust(terminal, ANNA, 3000, "test setup", "1234")
    on_ledger(terminal)

    def ledger_took_points_back(t):  # the sync's own connection writes what it pulled
        adjust(t, ANNA, -2500, "taken back at the office", "1234")
        return {"pushed": 0, "pulled": 1, "waiting": 0}

    app = make_app(sync=ledger_took_points_back)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "2*ESPRESSO")  # 29.80
        assert "Balance 3000 pts" in member_panel(app)
        await sync_now(pilot, app)
        assert "Balance 500 pts" in member_panel(app)
        await press(pilot, "f5")
        screen = app.screen
        assert isinstance(screen, PointsScreen)
        info = text_in(screen, "#info")
        assert "Balance 500 pts" in info
        assert "Most allowed 500 pts = 5.00 EUR" in info
        assert "that is all the points the member has" in info
        await press(pilot, "f5")
        assert app.checkout.view.quote.points_redeemed == 500


async def test_a_member_frozen_at_the_ledger_shows_frozen_and_f5_names_the_freeze(
    make_app, terminal
):
    adjust(terminal, ANNA, 3000, "test setup", "1234")
    on_ledger(terminal)

    def ledger_froze_her(t):
        freeze(t)
        return {"pushed": 0, "pulled": 1, "waiting": 0}

    app = make_app(sync=ledger_froze_her)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "2*ESPRESSO")
        await sync_now(pilot, app)
        assert "FROZEN" in member_panel(app)
        assert any("is frozen" in n for n in notes(app))
        await press(pilot, "f5")
        screen = app.screen
        assert isinstance(screen, PointsScreen)
        assert "the member is frozen: points cannot be paid" in text_in(screen, "#info")
        screen.query_one("#points", Input).value = "100"
        await settle(pilot)
        assert "This member is frozen" in text_in(screen, "#error")
        await press(pilot, "escape")
        head = terminal.store.head()
        await press(pilot, "f9")
        assert terminal.store.head() == head  # a frozen member's card is not sold to
        assert "This member is frozen: sell without the card" in " ".join(notes(app))


async def test_a_frozen_member_is_said_once_not_again_at_each_f5_and_f9(make_app, terminal):
    """QA: the note that the member is frozen came again from F5 and from F9's refusal, which
    says it too: three toasts stacked over the totals at 80x24, the amount due among them."""
    on_ledger(terminal)

    def ledger_froze_her(t):
        freeze(t)
        return {"pushed": 0, "pulled": 1, "waiting": 0}

    app = make_app(sync=ledger_froze_her)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "2*ESPRESSO")
        await sync_now(pilot, app)
        await press(pilot, "f5")
        assert isinstance(app.screen, PointsScreen)
        await press(pilot, "escape")
        await press(pilot, "f9")
        frozen = [n for n in notes(app) if "frozen" in n]
        assert frozen == [
            "Anna Schmidt is frozen: points cannot be earned or paid. Take the card off (F3) to "
            "sell without it, or ask the manager.",
            "This member is frozen: sell without the card, or ask the manager.",
        ]


async def test_a_provisional_member_is_shown_active_once_the_sync_took_them_to_the_ledger(
    make_app, terminal
):
    on_ledger(terminal)

    def ledger_registered_him(t):
        with t.store.transaction() as conn:
            conn.execute("UPDATE members SET status = 'active' WHERE status = 'provisional'")
        return {"pushed": 1, "pulled": 1, "waiting": 0}

    app = make_app(sync=ledger_registered_him)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        for value in ("LC99990003", "Zoe Quinn", "", ""):
            await fill(pilot, value)
        await until(pilot, lambda: app.checkout.view and app.checkout.view.member is not None)
        await until(pilot, lambda: "PROVISIONAL" not in member_panel(app))
        assert "Zoe Quinn" in member_panel(app)
        assert app.checkout.view.member.status == "active"


async def test_an_adjustment_from_the_cli_shows_while_the_app_is_open(
    make_app, terminal, monkeypatch
):
    monkeypatch.setattr(app_module, "STATUS_EVERY_S", 0.1)
    adjust(terminal, ANNA, 3000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "MASCARA")
        assert "Balance 3000 pts" in member_panel(app)
        cli = open_terminal(terminal.home)
        cli.clock = terminal.clock
        adjust(cli, ANNA, -2500, "bonus given twice", "1234")
        cli.store.close()
        await until(pilot, lambda: "Balance 500 pts" in member_panel(app))


async def test_scanning_the_same_card_again_reloads_the_member(make_app, terminal):
    adjust(terminal, ANNA, 3000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "MASCARA")
        other = open_terminal(terminal.home)
        other.clock = terminal.clock
        adjust(other, ANNA, -2500, "bonus given twice", "1234")
        freeze(other)
        other.store.close()
        await fill(pilot, ANNA)
        assert "Balance 500 pts" in member_panel(app)
        assert "FROZEN" in member_panel(app)
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MASCARA"]


async def test_a_till_gone_offline_prices_the_open_basket_with_the_offline_cap(make_app, terminal):
    """QA: after the status line said OFFLINE the basket kept the online points payment (due
    1.00) for over a minute, and F9 then said "the member's points changed", which they had
    not: going offline changes nothing in the cache, only the clock."""
    adjust(terminal, ANNA, 20000, "test setup", "1234")
    on_ledger(terminal)
    terminal.store.set_meta("last_sync_at", terminal.now().isoformat())  # online
    cap = terminal.program.offline.max_redeem_points_per_member_per_day
    app = make_app(sync=lambda t: {"pushed": 0, "pulled": 0, "waiting": 0})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "8*ESPRESSO")  # 119.20
        await press(pilot, "f5")
        await press(pilot, "f5")  # the most allowed, online
        online = app.checkout.view.quote.points_redeemed
        assert online > cap
        grace = terminal.program.offline.grace_minutes
        assert grace > 0

        def went_offline() -> None:  # the last sync is now older than the grace
            with terminal.store.transaction():
                terminal.store.set_meta("last_sync_at", "2000-01-01T00:00:00+00:00")

        went_offline()
        app.refresh_status()  # what the status timer does every 15 s
        await until(pilot, lambda: app.checkout.view.quote.points_redeemed == cap)
        await until(pilot, lambda: "OFFLINE" in text_in(app.checkout.status_bar))
        # QA: the due went up by the points no longer paid, and nothing said so
        said = notes(app)[-1]
        assert said.startswith("The amount changed: the terminal went offline, and offline")
        assert f"{cap} points paid (was {online})" in said
        with terminal.store.transaction():  # a sync worked again: the most allowed is back
            terminal.store.set_meta("last_sync_at", terminal.now().isoformat())
        app.refresh_status()
        await until(pilot, lambda: app.checkout.view.quote.points_redeemed == online)
        await until(pilot, lambda: "online again" in notes(app)[-1])
        went_offline()
        await press(pilot, "f9")  # before the status line noticed: refused, with the reason
        assert "The terminal went offline since the amount was shown" in notes(app)[-1]
        assert f"at most {cap} points a day here" in notes(app)[-1]
        assert terminal.store.last_receipt_id() is None


async def test_a_second_card_scanned_over_a_basket_says_it_replaced_the_first(make_app, terminal):
    """QA: the next customer's card scanned too early switched the member and dropped the
    points payment without a word."""
    adjust(terminal, ANNA, 3000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _anna_pays_with_points(pilot, app, "MASCARA")
        await fill(pilot, "LC00100037")
        await until(pilot, lambda: app.checkout.view.member.name == "Ben Carter")
        assert notes(app)[-1] == (
            "Card **********E500 was replaced on this basket by Ben Carter's card, and its "
            "points payment removed."
        )
        assert app.checkout.view.quote.points_redeemed == 0


async def test_a_card_enrolled_over_a_basket_with_a_card_says_it_replaced_it(make_app, terminal):
    """QA: Anna on the basket with points paid, then F4 enrolled a new card: the panel became
    the new member and the points payment went, the due up by it, with only "Welcome!" said
    (a second card scanned says so)."""
    adjust(terminal, ANNA, 3000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await _anna_pays_with_points(pilot, app, "MASCARA")
        await press(pilot, "f4")
        await fill(pilot, "LC00777004")
        await fill(pilot, "Zoe Brandt")
        await fill(pilot, "zoe@example.org")
        await fill(pilot, "")
        await until(pilot, lambda: app.checkout.view.member.name == "Zoe Brandt")
        assert (
            "Card **********E500 was replaced on this basket by Zoe Brandt's card, and its "
            "points payment removed."
        ) in notes(app)
        assert app.checkout.view.quote.points_redeemed == 0


async def test_the_same_card_again_in_another_case_keeps_the_points_payment(make_app, terminal):
    """QA: LC00100037 on the basket with points paid, then lc00100037 typed (the customer's
    card handed over again): "Card ******0037 was replaced on this basket by Ben Carter's card,
    and its points payment removed": the same card, and the due went up by the points."""
    adjust(terminal, "LC00100037", 3000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await fill(pilot, "LC00100037")
        await fill(pilot, "MASCARA")
        await press(pilot, "f5")
        await press(pilot, "f5")
        paid = app.checkout.view.quote.points_redeemed
        assert paid > 0
        await fill(pilot, "lc00100037")
        await settle(pilot)
        assert not any("replaced" in said for said in notes(app))
        assert app.checkout.view.quote.points_redeemed == paid
        assert app.checkout.view.member.name == "Ben Carter"


async def test_a_card_blocked_at_the_ledger_while_on_the_basket_is_taken_off_it(make_app, terminal):
    """QA: a card reported lost at the ledger while its basket was open kept a clean member
    panel and its points payment in the totals; a toast (three, on F5) was the only sign."""
    import sqlite3

    adjust(terminal, ANNA, 3000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _anna_pays_with_points(pilot, app, "2*ESPRESSO")
        with sqlite3.connect(terminal.store.path) as other:  # as a sync's pull writes it
            other.execute("UPDATE cards SET status = 'blocked' WHERE card = ?", (ANNA,))
        other.close()
        app.refresh_status()
        await until(pilot, lambda: app.checkout.view.member is None)
        view = app.checkout.view
        assert view.quote.points_redeemed == 0 and view.basket.card is None
        assert "was blocked (reported lost) since it was scanned" in notes(app)[-1]
        assert "Balance" not in member_panel(app)
        await press(pilot, "f9")  # the sale goes on without the card
        assert terminal.store.last_receipt_id() is not None
