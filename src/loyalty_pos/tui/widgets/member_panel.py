"""The member: name, masked card, tier, balance, the next points to expire, progress to the next
tier, and their punch cards (as they stand before this basket, like the balance).

The panel is as tall as it needs, up to the room the totals below it leave (``room``): at 80x24
the amount due must stay on the screen whatever the member has. Short of room it gives up, in
this order, the tier's progress bar (the amount to the next tier stays), then a line per punch
card ("3 of 5 · Coffee card: 6th free", cut at its end), then what still does not fit at its
bottom. A name is one line, cut with "…"."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from loyalty_pos.checkout import mask

from ..session import BasketView
from ..words import day, money, points


class MemberPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="member-lines")
        yield ProgressBar(total=100, show_eta=False, show_percentage=False, id="tier-progress")
        yield Static(id="tier-next")
        yield Static(id="punch-cards")

    def on_mount(self) -> None:
        self.border_title = "Member"
        self.show(None)

    def show(self, view: BasketView | None, room: int | None = None) -> None:
        """``room``: the lines the panel may take, borders included (None: as many as it needs)."""
        self.styles.max_height = room
        inside = None if room is None else room - 2
        lines = self.query_one("#member-lines", Static)
        bar = self.query_one("#tier-progress", ProgressBar)
        after = self.query_one("#tier-next", Static)
        cards = self.query_one("#punch-cards", Static)
        member = view.member if view else None
        if member is None:
            lines.update(Text("No card\nScan or tap the card,\nor F2 to type it.", style="dim"))
            bar.display = False
            after.update("")
            cards.update("")
            cards.display = False
            self.remove_class("has-member")
            return
        self.add_class("has-member")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(member.name or "(no name)", style="bold")
        if member.status != "active":
            text.append(f"  {member.status.upper()}", style="bold red")
        text.append(f"\n{mask(member.card)}\n")
        text.append("Tier    ", style="dim").append(f"{member.tier.tier.name}\n")
        text.append("Balance ", style="dim").append(points(member.balance), style="bold")
        if view is not None and view.next_expiry:
            lapsing, on = view.next_expiry
            text.append("\nExpires ", style="dim").append(f"{lapsing} on {day(on)}")
        lines.update(text)
        tier = member.tier
        need = len(text.plain.splitlines()) + 1 + 2 * len(member.punch_cards)
        show_bar = tier.next_tier is not None
        if show_bar and inside is not None and need + 1 > inside:
            show_bar = False
        compact = inside is not None and need + show_bar > inside
        # One line each, cut with "…" rather than wrapped (app.tcss): at 80x24 a wrapped name
        # would push the amount due off the bottom of the totals below.
        punch = Text()
        for card in member.punch_cards:
            punch.append("\n" if punch else "")
            if compact:  # how far first: the name is what gives way
                punch.append(card.progress.split(",")[0]).append(f" · {card.name}", style="dim")
            else:
                punch.append(card.name, style="dim").append(f"\n{card.progress}")
        cards.update(punch)
        cards.display = bool(member.punch_cards)
        bar.display = show_bar
        bar.update(progress=round(tier.progress * 100))
        if tier.next_tier is None:
            after.update(Text("Top tier", style="dim"))
        else:
            currency = view.currency if view else ""
            after.update(
                Text(f"{money(tier.spend_to_next, currency)} to {tier.next_tier.name}", style="dim")
            )
