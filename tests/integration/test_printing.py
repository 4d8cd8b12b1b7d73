"""Receipts of real sales: the preview, the PNG's barcode read back by zbar, the bytes a network
printer receives, and a printer fault that leaves the sale recorded and the receipt queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.printer_sim import PrinterSim
from loyalty_pos import checkout as svc
from loyalty_pos import printing
from loyalty_pos.receipts.printer import PrinterError


def sale(t: svc.Terminal) -> str:
    lines = svc.resolve_items(t, [("MASCARA", 1), ("COFFEE", 2), ("BOOK-KIDS", 1)])
    return svc.checkout(t, "04A1B2C3D4E500", lines)["receipt_id"]


def test_text_receipt_shows_the_sale_and_the_member(demo) -> None:
    receipt_id = sale(demo)
    text = printing.receipt_text(demo, receipt_id, 32)
    assert receipt_id in text and "Volume mascara black" in text
    assert "**********E500" in text and "04A1B2C3D4E500" not in text
    assert max(len(line) for line in text.splitlines()) <= 32


def test_png_barcode_reads_back_as_the_receipt_id(demo, tmp_path: Path) -> None:
    from PIL import Image
    from pyzbar import pyzbar

    receipt_id = sale(demo)
    path = printing.save_png(demo, receipt_id, tmp_path / "r.png")
    decoded = [d.data.decode() for d in pyzbar.decode(Image.open(path))]
    assert decoded == [receipt_id]


def test_refund_receipt_names_the_original(demo) -> None:
    receipt_id = sale(demo)
    refund = svc.refund(demo, receipt_id, {"COFFEE": 1}, "1234")
    text = printing.receipt_text(demo, refund["receipt_id"])
    assert "REFUND" in text and receipt_id in text


def test_a_refund_of_a_sale_paid_with_points_shows_the_goods_the_points_and_the_money(
    demo,
) -> None:
    """The goods came back for money and points together: the slip said "Returned goods 0.92"
    for a 14.00 book when 13.08 of it went back as points."""
    svc.adjust(demo, "04A1B2C3D4E500", 5000, "setup", "1234")
    lines = svc.resolve_items(demo, [("BOOK-NOVEL", 1), ("MILK", 1)])
    sale_id = svc.checkout(demo, "04A1B2C3D4E500", lines, redeem="max")["receipt_id"]
    back = svc.refund(demo, sale_id, {"BOOK-NOVEL": 1}, "1234")
    text = printing.receipt_text(demo, back["receipt_id"], 42)
    rows = {line[:30].strip(): line[30:].strip() for line in text.splitlines() if line.strip()}
    assert rows["Returned goods EUR"] == "14.00"
    assert rows[f"Back as {back['points_restored']} points"] == "-13.08"
    assert rows["Money back EUR"] == back["refunded"] == "0.92"


def test_a_refund_of_units_a_punch_card_gave_free_adds_up_on_the_slip(demo) -> None:
    """QA: six coffees on Ben's card, the sixth free; five returned printed "5 x 2.40 12.00"
    over "Returned goods 9.60", and the last one "2.40" over "Money back 0.00"."""
    from decimal import Decimal

    coffees = svc.resolve_items(demo, [("COFFEE", 6)])
    free_lines = []
    for card, returns in (("LC00100037", (5, 1)), ("04A1B2C3D4E500", (1, 5))):
        sale = svc.checkout(demo, card, coffees)
        assert sale["discount"] == "2.40"  # one of the six free
        for qty in returns:
            back = svc.refund(demo, sale["receipt_id"], {"COFFEE": qty}, "1234")
            text = printing.receipt_text(demo, back["receipt_id"], 42)
            rows = {x[:30].strip(): x[30:].strip() for x in text.splitlines() if x.strip()}
            free = rows.get("Free in the sale, not paid", "-0.00")
            free_lines.append(free)
            # the lines, less the free units, are the goods returned: the money back
            returned = Decimal(rows["Returned goods EUR"])
            assert returned - Decimal(free) == qty * Decimal("2.40")
            assert returned == Decimal(rows["Money back EUR"]) == Decimal(back["refunded"])
    assert free_lines.count("-2.40") == 2  # five back of six, and the first one back alone


def test_a_refund_that_whole_points_cannot_split_says_so_on_the_slip_not_free_units(
    demo, program_text
) -> None:
    """1 point pays 1.00: 7.50 paid 7 points and 0.50. The 3.70 item back gives 0.50 and 3
    points, 0.20 short, and the slip said "Free in the sale, not paid -0.20" of a sale with
    nothing free; the last return gives the 0.20, and its slip said goods of 4.00 under a line
    of 3.80."""
    from loyalty_pos.domain.program import parse_program_text

    from ..conftest import NOW

    text = program_text.replace("points_per_unit = 100 ", "points_per_unit = 1 ")
    text = text.replace('min_cash = "1.00"', 'min_cash = "0.50"').replace(
        "version = 1 ", "version = 2 "
    )
    with demo.store.transaction():
        demo.store.save_program(parse_program_text(text), NOW)
    svc.adjust(demo, "LC00100037", 100, "setup", "1234")
    lines = svc.resolve_items(demo, [], [("3.80", "grocery"), ("3.70", "grocery")])
    sale_id = svc.checkout(demo, "LC00100037", lines, redeem="max")["receipt_id"]
    slips = []
    for sku in ("OPEN:grocery#2", "OPEN:grocery"):
        back = svc.refund(demo, sale_id, {sku: 1}, "1234")
        text = printing.receipt_text(demo, back["receipt_id"], 42)
        slips.append({x[:32].strip(): x[32:].strip() for x in text.splitlines() if x.strip()})
    assert "Free in the sale, not paid" not in slips[0]
    assert slips[0]["Back with the last return"] == "-0.20"
    assert (slips[0]["Returned goods EUR"], slips[0]["Money back EUR"]) == ("3.50", "0.50")
    assert slips[1]["Held back at an earlier return"] == "+0.20"
    assert (slips[1]["Returned goods EUR"], slips[1]["Back as 4 points"]) == ("4.00", "-4.00")


def test_printing_sends_the_receipt_with_its_barcode_and_a_cut(demo) -> None:
    receipt_id = sale(demo)
    with PrinterSim() as sim:
        printing.print_receipt(demo, receipt_id, sim.url)
        job = sim.wait_for_jobs(1)[0]
    assert job.startswith(b"\x1b@")
    assert b"\x1dk" in job and receipt_id.encode() in job
    assert b"\x1dV" in job[-8:]
    assert demo.store.unprinted() == []


def test_a_receipt_printed_again_says_copy_and_a_failed_copy_does_not_queue_it(demo) -> None:
    receipt_id = sale(demo)
    with PrinterSim() as sim:
        first = printing.print_receipt(demo, receipt_id, sim.url)
        again = printing.print_receipt(demo, receipt_id, sim.url)
        original, copy = sim.wait_for_jobs(2)
    assert (first["copy"], again["copy"]) == (False, True)
    assert b"COPY" not in original and b"COPY" in copy
    with PrinterSim(mode="refuse") as off, pytest.raises(PrinterError):
        printing.print_receipt(demo, receipt_id, off.url)
    assert demo.store.unprinted() == []  # it printed once: nothing owed to the customer


def test_a_name_with_printer_commands_in_it_prints_as_text(demo) -> None:
    """A name stored before the terminal refused control characters (or written into the cache
    by hand) reaches the paper as text: its ESC p (open the cash drawer) and GS V (cut) are not
    sent as commands, and the preview keeps one row per line."""
    name = "Tea\x1bp\x00\x19\xfa\x1dV\x00 \nleaves"
    demo.store.conn.execute(
        "INSERT INTO catalog (sku, ean, name, price_minor, category) "
        "VALUES ('TEA', NULL, ?, 250, 'grocery')",
        (name,),
    )
    lines = svc.resolve_items(demo, [("TEA", 1)])
    receipt_id = svc.checkout(demo, None, lines)["receipt_id"]
    with PrinterSim() as sim:
        printing.print_receipt(demo, receipt_id, sim.url)
        job = sim.wait_for_jobs(1)[0]
    assert b"\x1bp" not in job and job.count(b"\x1dV") == 1  # the cut at the end, only
    assert b"Tea p" in job and b"leaves" in job
    text = printing.receipt_text(demo, receipt_id, 32)
    assert "Tea p" in text and all(c == "\n" or c >= " " for c in text)


def test_a_printer_that_refuses_keeps_the_receipt_queued_and_the_sale(demo) -> None:
    receipt_id = sale(demo)
    with PrinterSim(mode="refuse") as sim:
        url = sim.url
        with pytest.raises(PrinterError):
            printing.print_receipt(demo, receipt_id, url)
    assert demo.store.unprinted() == [receipt_id]
    assert demo.store.event_by_receipt(receipt_id) is not None
    with PrinterSim() as sim:
        printing.print_receipt(demo, "last", sim.url)
        assert receipt_id.encode() in sim.wait_for_jobs(1)[0]
    assert demo.store.unprinted() == []
