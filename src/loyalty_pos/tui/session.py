"""The open basket and every change to it, as calls to the application services.

A ``CheckoutSession`` lives on the service thread (see ``services.ServiceQueue``): the screens send
it jobs and get back ``BasketView`` snapshots to show. Every change is priced with
``price_basket`` before it is kept, so a refused change leaves the basket as it was, and every kept
change is saved as the draft that a restart restores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from loyalty_pos.checkout import (
    MemberView,
    Terminal,
    checkout,
    enroll,
    is_online,
    price_basket,
    product_barcode,
    resolve_items,
    shown,
)
from loyalty_pos.domain.cards import mask_card
from loyalty_pos.domain.errors import LoyaltyPosError, NotFound, RedeemRefused, Refused
from loyalty_pos.domain.money import parse_typed_amount
from loyalty_pos.domain.quote import MAX_QTY, Quote, cap_reason
from loyalty_pos.printing import receipt_text

from .basket import Basket

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BasketView:
    """A priced basket, ready to show.

    Attributes:
        cap_reason: why the points payment cannot be larger, in plain words.
        next_expiry: the member's next points to expire and the date, or None.
        note: a sentence for the cashier about this change, if any.
    """

    basket: Basket
    quote: Quote
    member: MemberView | None
    currency: str
    cap_reason: str
    next_expiry: tuple[int, date] | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a code turned out to be: ``view`` when it changed the basket (``what`` = ``item`` or
    ``card``), or ``unknown_card`` when it is a card nobody holds yet."""

    what: str
    view: BasketView | None = None
    unknown_card: str | None = None
    message: str = ""


class CheckoutSession:
    """The basket being built; call only from the service thread."""

    def __init__(self, terminal: Terminal) -> None:
        self.t = terminal
        self.basket = Basket()
        #: The cache's ``data_version`` when the basket was last priced: another connection (the
        #: app's sync, a CLI call) committed since when it differs, and the member may have changed.
        self._priced_at_version: int | None = None
        self._priced_online = True
        #: What the customer was last told of the basket (``_told``), to say when it changes.
        self._told: tuple[Any, ...] | None = None

    # -- reading --------------------------------------------------------------------------------

    def view(self) -> BasketView:
        return self._price(self.basket)

    def preview_points(self, points: int | str) -> Quote:
        """The quote with ``points`` paid, without keeping it (the points window's live value)."""
        quote, _ = price_basket(self.t, self.basket.card, self.basket.lines, points)
        return quote

    # -- changes --------------------------------------------------------------------------------

    def restore(self) -> tuple[BasketView, bool]:
        """Bring back the basket left open when the app last stopped, as far as it still resolves."""
        draft = self.t.store.draft()
        if not draft:
            return self.view(), False
        basket, dropped = Basket(), 0
        for entry in draft.get("lines", []):
            try:
                if "sku" in entry:
                    line = resolve_items(self.t, [(entry["sku"], int(entry["qty"]))])[0]
                else:
                    line = resolve_items(self.t, [], [(entry["amount"], entry["category"])])[0]
                basket = basket.add(line)
            except (LoyaltyPosError, KeyError, ValueError):
                dropped += 1
        basket = basket.with_card(draft.get("card")).with_redeem(draft.get("redeem"))
        note = "The basket left open was restored."
        if dropped:
            note += f" {dropped} line(s) could not be restored (no longer in the catalog)."
        try:
            view = _frozen_note(self._commit(basket))
        except LoyaltyPosError as e:
            view = self._commit(basket.with_card(None))
            note += f" The card was not kept: {e}"
        return replace(view, note=f"{note} {view.note}".strip()), True

    def scan(
        self, code: str, qty: int = 1, kind: str = "code", symbology: str | None = None
    ) -> ScanResult:
        """Route one code: a catalog item is added, a card attaches its member.

        A product's barcode is never a new card: a valid GTIN that the scanner announced as
        EAN/UPC, ITF or GS1 DataBar (``symbology``), or a 14-digit code with a GTIN check digit
        (an ITF-14 read without its identifier), that is neither in the catalog nor a card
        enrolled here is an unknown product, not a card to enrol. A card enrolled here still
        attaches: a store's own cards may be in-store EAN-13s (prefix 2)."""
        code = code.strip()
        if not code:
            raise Refused("The code is empty.")
        if kind == "card":
            return self._attach(code)
        try:
            line = resolve_items(self.t, [(code, _qty(qty))])[0]
        except NotFound:
            product = product_barcode(self.t, code, symbology) is not None
            if not product and self.t.is_card(code):
                return self._attach(code)
            if product:
                raise NotFound(
                    f"Unknown product {shown(code)}: a product barcode (GTIN) that is not in "
                    "the catalog. Sell it by another code, or as a free amount (F7)."
                ) from None
            raise NotFound(
                f"Unknown code {shown(code)}: it is not an item, a member card or a receipt."
            ) from None
        return ScanResult("item", self._commit(self.basket.add(line)), message=line.name)

    def add_open_line(self, amount: str, category: str) -> BasketView:
        """``amount`` as typed (``parse_typed_amount``: a decimal comma is taken)."""
        price = parse_typed_amount(amount, self.t.program.currency)
        line = resolve_items(self.t, [], [(str(price), category.strip().lower())])[0]
        return self._commit(self.basket.add(line))

    def remove(self, index: int) -> BasketView:
        if not 0 <= index < len(self.basket.lines):
            raise Refused("Select a line first (arrow keys).")
        return self._commit(self.basket.remove(index))

    def one_less(self, index: int) -> BasketView:
        if not 0 <= index < len(self.basket.lines):
            raise Refused("Select a line first (arrow keys).")
        return self._commit(self.basket.one_less(index))

    def holds_card(self, card: str) -> bool:
        """Whether ``card`` is the basket's card, each as typed: ``lc00100037`` typed at F8 for
        the LC00100037 scanned (QA: the card blocked stayed on the basket, and every item after
        was refused as scanned for a lost card)."""
        on = self.basket.card
        return on is not None and self.t.card_form(on) == self.t.card_form(card)

    def detach(self) -> BasketView:
        return self._commit(self.basket.with_card(None))

    def pay_points(self, redeem: int | str | None) -> BasketView:
        return self._commit(self.basket.with_redeem(redeem or None), keep_redeem=True)

    def enrol(
        self, card: str, name: str, email: str, phone: str
    ) -> tuple[dict[str, Any], BasketView]:
        result = enroll(self.t, card, name, email, phone)
        before = self.basket
        view = self._commit(before.with_card(card.strip()))
        # Said as a second card scanned says it (QA: the basket's member and points payment
        # went at F4 with only "Welcome!" said, the due up by the points).
        who = view.member.name if view.member is not None and view.member.name else "the new member"
        return result, _replaced_note(view, before, who)

    def clear(self) -> BasketView:
        return self._commit(Basket())

    def refresh(self, frozen_note: bool = True) -> BasketView:
        """The basket priced again as things stand now (a points payment no longer possible is
        removed, with a note; a member frozen since is shown so, with what to do unless not
        ``frozen_note``; a card blocked since is taken off, with a note)."""
        try:
            view = self._commit(self.basket)
            return _frozen_note(view) if frozen_note else view
        except Refused as e:
            if e.details.get("reason") != "blocked" or self.basket.card is None:
                raise
        # Reported lost at the ledger (or at another till) while on this basket: the panel
        # and its points payment must not stay as if nothing happened (QA: a clean panel and
        # the points still in the totals, a toast the only sign). The sale goes on without it.
        card = self.basket.card
        view = self._commit(self.basket.with_card(None))
        note = (
            f"Card {mask_card(card)} was blocked (reported lost) since it was scanned: it is off "
            "this basket, with its points payment. Ask for the new card, or sell without one."
        )
        return replace(view, note=note)

    def refresh_if_changed(self) -> BasketView | None:
        """The basket priced again when another connection has written to the cache since it was
        last priced (a sync pulled members, a manager's CLI adjusted points), else None."""
        if self.basket.is_empty:
            return None
        # Going offline changes nothing in the cache, only the clock: the offline cap then
        # applies to a points payment shown while online (QA: due 1.00 shown for a minute
        # after OFFLINE, until F9 refused it).
        online = self._online()
        if self.t.store.data_version() == self._priced_at_version and online == self._priced_online:
            return None
        moved = None if online == self._priced_online else online
        before = self._told
        view = self.refresh()
        if before is None or view.note:
            return view
        return replace(view, note=self._changed_note(before, view.quote, moved))

    def _changed_note(self, before: tuple[Any, ...], quote: Quote, online: bool | None) -> str:
        """What to tell the customer when the basket, priced again by itself, asks for another
        amount (QA: going offline cut a "most allowed" points payment from 1000 to 300 points
        and raised the due by 7.00 without a word; F9 then recorded it)."""
        due, paid, _ = before
        if (quote.due, quote.points_redeemed) == (due, paid):
            return ""
        if online is False and quote.cap.rule == "offline_cap":
            why = f"the terminal went offline, and {self._offline_cap_words()}"
        elif online is True:
            why = "the terminal is online again, without the offline cap"
        else:
            why = "the member's points changed"
        cur = self.t.program.currency
        return (
            f"The amount changed: {why}. Due now {quote.due} {cur} (was {due}), "
            f"{quote.points_redeemed} points paid (was {paid}). Tell the customer."
        )

    def _offline_cap_words(self) -> str:
        limit = self.t.program.offline.max_redeem_points_per_member_per_day
        return f"offline a member may pay at most {limit} points a day here"

    def _online(self) -> bool:
        return is_online(self.t, self.t.now())

    def complete(
        self, on_screen: Quote | None = None, shown: Basket | None = None
    ) -> tuple[dict[str, Any], str, BasketView, tuple[dict[str, Any], ...]]:
        """Record the sale; the basket starts empty for the next customer. ``on_screen`` is the
        quote on the cashier's screen: when the member's points changed since (another till, a sync,
        a manager), the sale would not be what the customer was shown, so nothing is recorded
        and the refusal says what it would be now. So too when the basket itself is no longer
        the one ``shown`` (a scan or a key that F9 overtook, still on its way).

        Returns the sale's result, its receipt's text, the empty basket, and the punch cards the
        sale touched (of an item sold), as it leaves them: the summary tells the customer."""
        basket = self.basket
        if on_screen is not None:
            now = self._price(basket).quote
            if _told(now) != _told(on_screen):
                if shown is not None and shown != basket:
                    # QA: "The member's points changed" for an item or a card scanned just
                    # before F9 (a sale without a member, even), which the screen did not show yet
                    why = "An item or a card was still being added when F9 was pressed"
                elif now.cap.rule == "offline_cap" and on_screen.cap.rule != "offline_cap":
                    why = (
                        "The terminal went offline since the amount was shown, and "
                        + self._offline_cap_words()
                    )
                else:
                    why = "The member's points changed since the amount was shown"
                raise Refused(
                    f"{why}: it is now due "
                    f"{now.due} {self.t.program.currency}, {now.points_redeemed} points paid, "
                    f"{now.points_earned} earned. Nothing was recorded: tell the customer, "
                    "then F9 again."
                )
        result = checkout(self.t, basket.card, basket.lines, basket.redeem)
        sold = {line.sku for line in basket.lines}
        touched = tuple(card for card in result["punch_cards"] if card["sku"] in sold)
        self.basket = Basket()
        try:
            text = receipt_text(self.t, result["receipt_id"])
        except Exception:  # the sale is recorded: a preview fault must not hide that
            logger.exception("receipt preview of %s failed", result["receipt_id"])
            text = f"Receipt {result['receipt_id']}\nAmount due {result['due']}\n"
        try:
            self._save_draft(self.basket)
        except LoyaltyPosError:
            logger.exception("the emptied basket could not be saved as the draft")
        return result, text, self.view(), touched

    # -- inside ---------------------------------------------------------------------------------

    def _attach(self, card: str) -> ScanResult:
        # The same card again reloads its member (a sync or a manager may have changed them); a
        # member frozen since stays on screen, marked so. A frozen member's card is not put on.
        # In any case it is typed: lc00100037 after LC00100037 is the same customer's card (QA:
        # it was "replaced on this basket", and its points payment removed).
        again = self.holds_card(card)
        try:
            basket, view = self._priced(self.basket if again else self.basket.with_card(card))
        except NotFound as e:
            return ScanResult("unknown_card", unknown_card=card, message=str(e))
        if view.member is not None and view.member.status == "frozen" and not again:
            raise Refused("This member is frozen: sell without the card, or ask the manager.")
        before = self.basket
        self._keep(basket)
        name = view.member.name if view.member else card
        if again:
            view = _frozen_note(view)
        else:  # often the next customer's card, scanned too early: say so
            view = _replaced_note(view, before, name)
        return ScanResult("card", view, message=name)

    def _commit(self, basket: Basket, keep_redeem: bool = False) -> BasketView:
        basket, view = self._priced(basket, keep_redeem)
        self._keep(basket)
        return view

    def _priced(self, basket: Basket, keep_redeem: bool = False) -> tuple[Basket, BasketView]:
        """``basket`` priced, or without its points payment if that no longer fits (a note
        says why) unless ``keep_redeem``: the basket to keep and its view."""
        try:
            return basket, self._price(basket)
        except RedeemRefused as e:
            if keep_redeem or basket.redeem is None:
                raise
            basket = basket.with_redeem(None)
            return basket, replace(self._price(basket), note=f"The points payment was removed. {e}")

    def _keep(self, basket: Basket) -> None:
        self.basket = basket
        self._save_draft(basket)

    def _price(self, basket: Basket) -> BasketView:
        t = self.t
        self._priced_at_version = t.store.data_version()
        self._priced_online = self._online()
        quote, member = price_basket(t, basket.card, basket.lines, basket.redeem, show_frozen=True)
        self._told = _told(quote)
        program = t.program
        return BasketView(
            basket=basket,
            quote=quote,
            member=member,
            currency=program.currency,
            cap_reason=cap_reason(quote.cap, program),
            next_expiry=_next_expiry(member),
        )

    def _save_draft(self, basket: Basket) -> None:
        self.t.store.save_draft(None if basket.is_empty else basket.to_draft(), self.t.now())


def _replaced_note(view: BasketView, before: Basket, name: str) -> BasketView:
    """``view`` with a note that the card of the basket ``before`` was replaced by ``name``'s
    (and its points payment removed), when it held one."""
    if before.card is None:
        return view
    note = f"Card {mask_card(before.card)} was replaced on this basket by {name}'s card"
    note += ", and its points payment removed." if before.redeem is not None else "."
    return replace(view, note=f"{note} {view.note}".strip())


def _frozen_note(view: BasketView) -> BasketView:
    """A member frozen at the ledger after their card was put on the basket stays on screen,
    marked FROZEN: the cashier is told what to do (the sale refuses the card)."""
    if view.member is None or view.member.status != "frozen":
        return view
    note = (
        f"{view.member.name or 'This member'} is frozen: points cannot be earned or paid. "
        "Take the card off (F3) to sell without it, or ask the manager."
    )
    return replace(view, note=f"{view.note} {note}".strip())


def _told(quote: Quote) -> tuple[Any, ...]:
    """What the customer is told of a sale: the money due and the points paid and earned."""
    return quote.due, quote.points_redeemed, quote.points_earned


def _qty(qty: int) -> int:
    if not 1 <= qty <= MAX_QTY:
        raise Refused(f"The quantity must be from 1 to {MAX_QTY} (got {qty}).")
    return qty


def _next_expiry(member: MemberView | None) -> tuple[int, date] | None:
    """The points that lapse first and when; lots lapsing the same day are shown together."""
    if member is None:
        return None
    dates = [lot.expires_at for lot in member.expiring if lot.expires_at is not None]
    if not dates:
        return None
    first = min(dates)
    return sum(lot.points for lot in member.expiring if lot.expires_at == first), first
