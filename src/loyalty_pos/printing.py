"""Receipts of recorded sales and refunds: built from the journal, rendered, printed, queued.

A sale is committed before anything is printed, so a printer that is absent, offline, out of paper
or stalls never loses a sale: the error is recorded on the receipt row (it stays queued) and the
receipt can be printed again later ("reprint last" in the app, ``loyalty-pos receipt ID --print``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .checkout import Terminal
from .domain.cards import mask_card
from .domain.errors import ConfigError, NotFound, Refused
from .domain.money import from_minor
from .domain.quote import PunchCard
from .receipts import MemberPart, PointsExpiry, PointsLine, Receipt, ReceiptLine, RefundPart


def printer_config(t: Terminal, url: str | None = None) -> Any:
    from .receipts.printer import PrinterConfig

    settings = dict(t.config.printer)
    if not url:
        return PrinterConfig.from_dict(settings, str(t.home / "terminal.toml"))
    source = str(t.home / "terminal.toml")
    try:
        return PrinterConfig.from_dict({**settings, "url": url}, source)
    except ConfigError as e:
        typed = [p.removeprefix("printer.url: ") for p in e.problems if p.startswith("printer.url")]
        if typed:  # the URL typed on the command line is the problem, not the file
            raise Refused(f"--print {url!r}: " + "; ".join(typed) + ".") from None
        raise


def _receipt_id(t: Terminal, receipt_id: str) -> str:
    if receipt_id == "last":
        last = t.store.last_receipt_id()
        if last is None:
            raise NotFound("No receipt has been made on this terminal yet.")
        return last
    return receipt_id


def build_receipt(t: Terminal, receipt_id: str, copy: bool = False) -> Receipt:
    """The Receipt of a recorded sale or refund (``last`` = the newest one); ``copy`` marks a
    reprint of one that has already printed."""
    receipt_id = _receipt_id(t, receipt_id)
    found = t.store.receipt(receipt_id)
    if found is None:
        raise NotFound(f"No receipt {receipt_id!r} on this terminal.")
    event, after = found
    cur = event["currency"]
    refund = None
    if event["type"] == "refund":
        original = t.store.event_by_receipt(event["original_receipt_id"]) or {"lines": []}
        by_sku = {line["sku"]: line for line in original["lines"]}
        lines = []
        for returned in event["lines"]:
            sold = by_sku.get(returned["sku"], {"name": returned["sku"], "unit_price_minor": 0})
            price = from_minor(sold["unit_price_minor"], cur)
            lines.append(
                ReceiptLine(
                    name=sold["name"],
                    sku=returned["sku"],
                    qty=returned["qty"],
                    unit_price=price,
                    line_total=price * returned["qty"],
                )
            )
        due = from_minor(event["refund_minor"], cur)
        # What the points given back were worth when the sale paid with them: the goods came
        # back for the money and those points together ("Returned goods 14.00", "Back as 1366
        # points -13.66", "Money back 0.34"), not for the money alone.
        paid_points = original.get("points_redeemed") or 0
        restored = event.get("points_restored") or 0
        points_value = (
            from_minor(original["points_value_minor"] * restored // paid_points, cur)
            if paid_points and restored
            else Decimal(0)
        )
        total = due + points_value
        # The returned units at their price, less what they come back for: the units the sale
        # gave free (a punch card's) are not paid back, and a line says so, or the lines would
        # not add up to the goods returned (QA: "5 x 2.40 12.00", "Returned goods 9.60").
        # Without free units the difference is whole points: a refund that gives back a little
        # less (no whole number of points splits the units kept), then its last one the rest.
        goods = sum((line.line_total for line in lines), Decimal(0))
        free = any(by_sku.get(line["sku"], {}).get("free_units") for line in event["lines"])
        discount = max(goods - total, Decimal(0)) if free else Decimal(0)
        points_redeemed = 0
        refund = RefundPart(
            original_receipt_id=event["original_receipt_id"],
            points_reversed=event["points_reversed"],
            points_restored=event["points_restored"],
            held_back=Decimal(0) if free else max(goods - total, Decimal(0)),
            made_up=Decimal(0) if free else max(total - goods, Decimal(0)),
        )
    else:
        lines = [
            ReceiptLine(
                name=line["name"],
                sku=line["sku"],
                qty=line["qty"],
                unit_price=from_minor(line["unit_price_minor"], cur),
                line_total=from_minor(line["unit_price_minor"], cur)
                * (line["qty"] - line.get("free_units", 0)),
                free_units=line.get("free_units", 0),
            )
            for line in event["lines"]
        ]
        total, due = from_minor(event["total_minor"], cur), from_minor(event["due_minor"], cur)
        discount = from_minor(event["discount_minor"], cur)
        points_value = from_minor(event["points_value_minor"], cur)
        points_redeemed = event["points_redeemed"]
    member = None
    if event.get("member_id") and event.get("card"):
        expiry = after.get("next_expiring")
        member = MemberPart(
            card_masked=mask_card(event["card"]),
            points_earned=event.get("points_earned", 0),
            breakdown=tuple(
                PointsLine(b.get("label") or b["rule"], b["points"])
                for b in event.get("breakdown", [])
            ),
            new_balance=after.get("balance") or 0,
            tier=after.get("tier") or "",
            next_tier=after.get("next_tier"),
            spend_to_next_tier=Decimal(after["spend_to_next_tier"])
            if after.get("spend_to_next_tier")
            else None,
            next_expiry=PointsExpiry(expiry["points"], date.fromisoformat(expiry["expires_at"]))
            if expiry
            else None,
            punch_cards=tuple(_punch_card(card) for card in after.get("punch_cards") or ()),
        )
    return Receipt(
        store_name=t.config.store_name,
        store_address=t.config.store_address,
        terminal_id=event["terminal_id"],
        receipt_id=receipt_id,
        occurred_at=datetime.fromisoformat(event["occurred_at"]),
        lines=tuple(lines),
        total=total,
        due=due,
        currency=cur,
        cashier=t.config.cashier or None,
        discount=discount,
        points_redeemed=points_redeemed,
        points_value=points_value,
        member=member,
        footer=t.config.footer,
        refund=refund,
        copy=copy,
    )


def _punch_card(kept: dict[str, Any]) -> PunchCard:
    """A punch card as the receipt's after-state kept it (``checkout.punch_card_json``)."""
    return PunchCard(
        kept["promotion"],
        kept["name"],
        kept["sku"],
        kept["every"],
        kept["punches"],
        kept["to_free"],
    )


def receipt_text(
    t: Terminal, receipt_id: str, width: int | None = None, *, copy: bool = False
) -> str:
    """The receipt as text; ``copy`` marks it COPY, as a reprint of a printed one comes out."""
    from .receipts.text import render_text

    receipt = build_receipt(t, receipt_id, copy=copy)
    return render_text(receipt, width or printer_config(t).width_chars)


def save_png(t: Terminal, receipt_id: str, path: Path, dots: int | None = None) -> Path:
    from .receipts.image import save_png as save

    cfg = printer_config(t)
    receipt = build_receipt(t, receipt_id)
    try:
        return save(receipt, path, dots or cfg.dots, qr=cfg.qr)
    except OSError as e:
        raise Refused(f"The receipt image cannot be saved as {path}: {e.strerror or e}.") from None


def print_receipt(t: Terminal, receipt_id: str, url: str | None = None) -> dict[str, Any]:
    """Print a recorded receipt. On a printer fault the receipt stays queued and the error is
    raised (a ``PrinterError`` with a sentence for the cashier)."""
    from .receipts.printer import PrinterError
    from .receipts.printer import print_receipt as send

    receipt_id = _receipt_id(t, receipt_id)
    receipt = build_receipt(t, receipt_id, copy=t.store.was_printed(receipt_id))
    cfg = printer_config(t, url)
    try:
        send(receipt, cfg)
    except PrinterError as e:
        t.store.mark_printed(receipt_id, None, str(e))
        raise
    t.store.mark_printed(receipt_id, t.now(), None)
    return {"receipt_id": receipt_id, "printed": True, "copy": receipt.copy, "printer": cfg.url}
