"""The PNG receipt: printer-wide, 1-bit, and its barcode scans back as the receipt id (real zbar)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image
from receipt_cases import extreme_receipt

from loyalty_pos.receipts.image import (
    QUIET_ZONE_MODULES,
    barcode_image,
    bench_render,
    render_png,
    save_png,
)
from loyalty_pos.receipts.sample import sample_receipt, sample_refund


def zbar() -> ModuleType:
    """pyzbar with the real zbar library; on CI a missing zbar fails the test, never skips it."""
    try:
        from pyzbar import pyzbar
    except ImportError as e:  # pyzbar raises ImportError when libzbar0 is not installed
        if os.environ.get("CI"):
            raise
        pytest.skip(f"zbar is not installed (apt install libzbar0): {e}")
    return pyzbar


def decoded(image: Image.Image, kind: str) -> list[str]:
    return [s.data.decode() for s in zbar().decode(image.convert("L")) if s.type == kind]


@pytest.mark.parametrize("dots", [384, 576])
@pytest.mark.parametrize("make", [sample_receipt, sample_refund], ids=["sale", "refund"])
def test_barcode_on_the_png_scans_back_as_the_receipt_id(dots: int, make) -> None:  # noqa: ANN001
    receipt = make()
    assert decoded(render_png(receipt, dots), "CODE128") == [receipt.receipt_id]


def test_qr_code_scans_back_as_the_receipt_id() -> None:
    image = render_png(sample_receipt(), 576, qr=True)
    assert decoded(image, "QRCODE") == ["T1-000017"]


@pytest.mark.parametrize("dots", [384, 576])
def test_png_is_one_bit_and_exactly_as_wide_as_the_printer(dots: int) -> None:
    image = render_png(sample_receipt(), dots)
    assert image.mode == "1" and image.width == dots


@pytest.mark.parametrize(("dots", "module"), [(384, 2), (576, 3)])
def test_every_bar_is_a_whole_number_of_printer_dots(dots: int, module: int) -> None:
    bars = barcode_image("T1-000017", dots)
    assert bars is not None and bars.width <= dots
    row = [bars.getpixel((x, bars.height // 2)) for x in range(bars.width)]
    runs = [len(list(group)) for _, group in itertools.groupby(row)]
    assert runs[0] == runs[-1] == QUIET_ZONE_MODULES * module
    assert min(runs) == module and all(run % module == 0 for run in runs)


def test_a_receipt_id_too_long_for_the_paper_still_renders() -> None:
    receipt = extreme_receipt()
    image = render_png(receipt, 384)
    assert image.width == 384
    if barcode_image(receipt.receipt_id, 384) is not None:
        assert decoded(image, "CODE128") == [receipt.receipt_id]


def test_save_png_writes_a_203_dpi_png(tmp_path: Path) -> None:
    path = save_png(sample_receipt(), tmp_path / "r.png", 384)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "1" and image.width == 384
        assert round(image.info["dpi"][0]) == 203


def test_bench_render_reports_a_median_in_milliseconds() -> None:
    assert 0 < bench_render(3) < 1000


def test_letters_beyond_ascii_are_drawn_not_boxed() -> None:
    """A receipt in Brussels says "Café crème": é must come out as é, not as the box a font
    draws for a letter it lacks (Pillow's bundled font lacks every one beyond ASCII)."""
    import dataclasses

    def drawn(name: str) -> bytes:
        receipt = dataclasses.replace(sample_receipt(), store_name=f"Caf{name} cr{name}me")
        return render_png(receipt, 384).tobytes()

    lacking = "\u0378"  # not a character at all: every font draws its box for it
    assert drawn("é") != drawn(lacking)
    assert drawn("ß") != drawn(lacking)
