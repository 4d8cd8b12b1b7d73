"""The receipt as a 1-bit picture at the printer's dot width: previews, docs, image-only printers.

Thermal receipt printers print 203 dots per inch: 384 dots across 58 mm paper, 576 across 80 mm.
``render_png`` draws the same rows as the text receipt (``layout.build_rows``) at that width, in
black and white only, so what is saved is what a printer would print dot for dot. The receipt id
is drawn as a Code128 barcode by python-barcode's ``ImageWriter`` with every module a whole
number of dots wide (a module straddling two dots prints blurred and scans badly), and optionally
as a QR code. The font is DejaVu Sans where the system has it (Debian's fonts-dejavu-core,
installed by most desktops and by ``scripts/test``): Pillow's bundled font draws every letter
beyond ASCII as a box, and a receipt in Brussels says "Café crème". Without DejaVu the bundled
font is used, so a receipt always renders.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import barcode
import qrcode
from barcode.writer import ImageWriter
from PIL import Image, ImageDraw, ImageFont

from loyalty_pos.receipts.layout import build_rows, fit_row
from loyalty_pos.receipts.model import Receipt

DPI = 203
#: Code128 needs 10 modules of white on each side to scan.
QUIET_ZONE_MODULES = 10
#: Widest module we draw: 3 dots = 0.375 mm, comfortably above what hand scanners need.
MAX_MODULE_DOTS = 3
BARCODE_HEIGHT_DOTS = 80  # 10 mm
BLACK, WHITE = 0, 1

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont | ImageFont.TransposedFont


#: Fonts tried first, by file name: Pillow looks for them in the system's font folders.
FONT_FILES = ("DejaVuSans.ttf",)


@lru_cache(maxsize=16)
def _font(size: int) -> Font:
    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    # Pillow >= 10.1 embeds a scalable font (Aileron, ASCII only); without FreeType it falls
    # back to its small bitmap font, which is ugly but still a receipt.
    return ImageFont.load_default(size=size)


class _DotWriter(ImageWriter):  # type: ignore[misc]
    """python-barcode's ImageWriter on a grid of whole printer dots.

    ImageWriter works in millimetres and floats. At "dpi" 25.4 one millimetre is one dot, and
    rounding each bar's edges keeps float error from shaving a dot off some bars (or turning a
    1-dot bar into nothing). Only the two drawing callbacks are replaced.
    """

    def __init__(self) -> None:
        super().__init__(format="PNG", mode="1", dpi=25.4)

    def _init(self, code: list[str]) -> None:
        width, height = self.calculate_size(len(code[0]), 1)
        self._image = Image.new(self.mode, (round(width), round(height)), WHITE)
        self._draw = ImageDraw.Draw(self._image)

    def _paint_module(self, xpos: float, ypos: float, width: float, color: object) -> None:
        x0, x1 = round(xpos), round(xpos + width)
        if color == self.background or x1 <= x0:
            return  # the image starts white
        y0, y1 = round(ypos), round(ypos + self.module_height)
        self._draw.rectangle([(x0, y0), (x1 - 1, y1 - 1)], fill=BLACK)


def barcode_image(
    code: str, max_dots: int, height: int = BARCODE_HEIGHT_DOTS
) -> Image.Image | None:
    """Code128 of ``code`` as a 1-bit image at most ``max_dots`` wide, quiet zones included.

    Modules are the widest whole number of dots (up to ``MAX_MODULE_DOTS``) that fits; None when
    even 1-dot modules do not fit (a very long receipt id on 58 mm paper).
    """
    symbol = barcode.Code128(code, writer=_DotWriter())
    modules = len(symbol.build()[0]) + 2 * QUIET_ZONE_MODULES
    module = min(MAX_MODULE_DOTS, max_dots // modules)
    if module < 1:
        return None
    options = {
        "module_width": module,
        "module_height": height,
        "quiet_zone": QUIET_ZONE_MODULES * module,
        "write_text": False,
        "margin_top": 0,
        "margin_bottom": 0,
    }
    image: Image.Image = symbol.render(writer_options=options)
    return image


def qr_image(code: str, box_dots: int = 4) -> Image.Image:
    """QR code of ``code``, 1-bit, ``box_dots`` dots per module, with the standard 4-module border."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_dots, border=4
    )
    qr.add_data(code)
    qr.make(fit=True)
    image: Image.Image = qr.make_image().get_image().convert("1")
    return image


@dataclass(frozen=True, slots=True)
class _Metrics:
    margin: int
    body: int
    strong: int

    @classmethod
    def for_dots(cls, dots: int) -> _Metrics:
        body = max(12, round(dots / 24))  # 24 px on 80 mm, 16 px on 58 mm
        return cls(margin=max(8, dots // 32), body=body, strong=round(body * 1.3))

    def line_height(self, size: int) -> int:
        return round(size * 1.25)


def render_png(receipt: Receipt, dots: int = 576, *, qr: bool = False) -> Image.Image:
    """The receipt as a 1-bit image ``dots`` wide (384 for 58 mm paper, 576 for 80 mm).

    The rows of the text receipt, then the receipt id as a Code128 barcode with the id under it,
    then (``qr=True``) the id as a QR code.
    """
    if dots < 192:
        raise ValueError(f"a receipt image needs at least 192 dots, got {dots}")
    m = _Metrics.for_dots(dots)
    width = dots - 2 * m.margin
    ops: list[tuple[int, str, int, str]] = []  # (y, kind, size, text); kind: rule | l | c | r
    y = m.margin
    for row in build_rows(receipt):
        size = m.strong if row.strong else m.body
        if row.kind == "gap":
            y += m.line_height(m.body) // 2
            continue
        if row.kind == "rule":
            ops.append((y + m.line_height(m.body) // 2, "rule", 0, ""))
            y += m.line_height(m.body)
            continue
        font = _font(size)
        for left, right in fit_row(row, width, font.getlength):
            ops.append((y, "c" if row.kind == "center" else "l", size, left))
            if right:
                ops.append((y, "r", size, right))
            y += m.line_height(size)

    y += m.line_height(m.body) // 2
    bars = barcode_image(receipt.receipt_id, dots)
    bars_y = y
    if bars is not None:
        y += bars.height + m.body // 4
    ops.append((y, "c", m.body, receipt.receipt_id))
    y += m.line_height(m.body)
    code = qr_image(receipt.receipt_id, 5 if dots >= 512 else 4) if qr else None
    code_y = y
    if code is not None:
        y += code.height
    height = y + m.margin

    image = Image.new("1", (dots, height), WHITE)
    draw = ImageDraw.Draw(image)
    for y, kind, size, text in ops:
        if kind == "rule":
            for x in range(m.margin, dots - m.margin, 12):
                draw.rectangle([(x, y), (min(x + 7, dots - m.margin - 1), y + 1)], fill=BLACK)
            continue
        font = _font(size)
        if kind == "l":
            x = m.margin
        elif kind == "r":
            x = round(dots - m.margin - font.getlength(text))
        else:
            x = round((dots - font.getlength(text)) / 2)
        draw.text((x, y), text, font=font, fill=BLACK)
    if bars is not None:
        image.paste(bars, ((dots - bars.width) // 2, bars_y))
    if code is not None:
        image.paste(code, ((dots - code.width) // 2, code_y))
    return image


def save_png(receipt: Receipt, path: str | Path, dots: int = 576, *, qr: bool = False) -> Path:
    """Render the receipt and save it as a 1-bit PNG at 203 dpi; returns the path."""
    path = Path(path)
    render_png(receipt, dots, qr=qr).save(path, format="PNG", dpi=(DPI, DPI))
    return path


def bench_render(n: int = 50, dots: int = 576) -> float:
    """Median milliseconds of one ``render_png`` of the sample member receipt (after a warm-up)."""
    from loyalty_pos.receipts.sample import sample_receipt

    receipt = sample_receipt()
    render_png(receipt, dots)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        render_png(receipt, dots)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
