"""The printable marker sheet: four 20 mm ArUco markers, a 10 mm ruler and instructions.

The sheet is an A4 page rendered at 300 dpi (PNG and PDF, see ``scripts/make_marker_sheet.py``
and ``resources/markers/``). Each marker is drawn cell by cell on the exact pixel grid of its
printed size, so a sheet printed at 100 % carries markers of 20 mm; the ruler lets the user
check that the printer did not scale the page. Pillow's built-in scalable font keeps the
rendering independent of the printer driver; the text uses DejaVu Sans when present.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from capture.measure import DICTIONARY, MARKER_IDS, MARKER_MM

MmToPx = Callable[[float], int]

SHEET_DPI = 300
A4_MM = (210.0, 297.0)
CELL_MM = 62.0  # each marker's cut-out square
PRINT_INSTRUCTION = "Imprimer à 100 %, sans mise à l'échelle; vérifier la règle de 10 mm"
TITLE = "Passavant — marqueurs de mesure des plaies"
SUBTITLE = f"ArUco 4X4_50, identifiants 0 à 3, côté {MARKER_MM:g} mm"
USAGE = (
    "1. Découper un marqueur en gardant toute sa marge blanche.",
    "2. Le poser à plat sur la peau, à côté de la plaie, sans le plier ni le couvrir.",
    "3. Photographier de face : marqueur et plaie entiers, nets, dans le même plan.",
    "4. Usage unique : jeter le marqueur après la photo.",
)


def marker_bitmap(marker_id: int, side_px: int, dictionary: int = DICTIONARY) -> NDArray[np.uint8]:
    """The marker (black border included) as a ``side_px`` square of 0/255 values.

    Cell edges fall at ``round(i * side_px / cells)``, so the whole marker spans exactly
    ``side_px`` even when that is not a multiple of the cell count.
    """
    table = cv2.aruco.getPredefinedDictionary(dictionary)
    cells = int(table.markerSize) + 2
    bits = np.asarray(cv2.aruco.generateImageMarker(table, marker_id, cells), dtype=np.uint8)
    edges = [round(i * side_px / cells) for i in range(cells + 1)]
    out = np.zeros((side_px, side_px), np.uint8)
    for row in range(cells):
        for col in range(cells):
            out[edges[row] : edges[row + 1], edges[col] : edges[col + 1]] = bits[row, col]
    return out


def sheet_image(dpi: int = SHEET_DPI) -> Image.Image:
    """The A4 sheet as a 1-bit image at ``dpi``."""
    px = dpi / 25.4

    def at(mm: float) -> int:
        return round(mm * px)

    page = Image.new("L", (at(A4_MM[0]), at(A4_MM[1])), 255)
    draw = ImageDraw.Draw(page)
    left = 15.0
    draw.text((at(left), at(14)), TITLE, fill=0, font=_font(at(6.5)))
    draw.text((at(left), at(24)), SUBTITLE, fill=0, font=_font(at(4.2)))
    draw.rectangle((at(left), at(33), at(A4_MM[0] - left), at(45)), outline=0, width=at(0.5))
    draw.text((at(left + 3), at(35.5)), PRINT_INSTRUCTION, fill=0, font=_font(at(4.6)))
    _ruler(draw, at, x_mm=left, y_mm=52.0)

    marker_px = at(MARKER_MM)
    grid_left = (A4_MM[0] - 2 * CELL_MM) / 2
    grid_top = 72.0
    for index, marker_id in enumerate(sorted(MARKER_IDS)):
        cx = grid_left + CELL_MM * (index % 2 + 0.5)
        cy = grid_top + CELL_MM * (index // 2 + 0.5)
        x0, y0 = at(cx) - marker_px // 2, at(cy) - marker_px // 2
        page.paste(Image.fromarray(marker_bitmap(marker_id, marker_px)), (x0, y0))
        label = f"id {marker_id} — {MARKER_MM:g} mm"
        draw.text(
            (at(cx), at(cy + MARKER_MM / 2 + 6)), label, fill=0, font=_font(at(3.2)), anchor="mt"
        )
        _dashed_square(draw, at, cx - CELL_MM / 2, cy - CELL_MM / 2, CELL_MM)

    y = grid_top + 2 * CELL_MM + 10
    for line in USAGE:
        draw.text((at(left), at(y)), line, fill=0, font=_font(at(3.8)))
        y += 7.0
    return page.point(lambda v: 255 if v >= 128 else 0, mode="1")


def sheet_png(dpi: int = SHEET_DPI) -> bytes:
    """The sheet as PNG bytes, with its resolution recorded (pHYs)."""
    out = io.BytesIO()
    sheet_image(dpi).save(out, "PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()


def sheet_pdf(dpi: int = SHEET_DPI) -> bytes:
    """The sheet as a one-page A4 PDF: the 1-bit bitmap at ``dpi``, CCITT G4-compressed
    (lossless) by Pillow's libtiff, which its wheels include."""
    out = io.BytesIO()
    sheet_image(dpi).save(  # no creation/modification date: the same bytes on every run
        out,
        "PDF",
        resolution=float(dpi),
        title="Passavant — marqueurs ArUco 20 mm",
        creationDate=None,
        modDate=None,
    )
    return out.getvalue()


FONTS = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "Arial.ttf")


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (Debian's fonts-dejavu-core) or Arial, for the accents; else Pillow's own
    font, which has no accented letters but keeps the markers and ruler exact."""
    for name in FONTS:
        try:
            return ImageFont.truetype(name, size_px)
        except OSError:
            continue
    return ImageFont.load_default(size=size_px)


def _ruler(draw: ImageDraw.ImageDraw, scale: MmToPx, *, x_mm: float, y_mm: float) -> None:
    """A 10 mm ruler with a tick every millimetre, labelled."""
    width = scale(0.35)
    draw.line(
        (scale(x_mm), scale(y_mm + 4), scale(x_mm + 10), scale(y_mm + 4)), fill=0, width=width
    )
    for mm in range(11):
        tall = 4 if mm in (0, 10) else (2.6 if mm == 5 else 1.6)
        x = scale(x_mm + mm)
        draw.line((x, scale(y_mm + 4 - tall), x, scale(y_mm + 4)), fill=0, width=width)
    draw.text(
        (scale(x_mm + 13), scale(y_mm)),
        "10 mm : mesurer cette règle après impression",
        fill=0,
        font=_font(scale(3.6)),
    )


def _dashed_square(
    draw: ImageDraw.ImageDraw, scale: MmToPx, x_mm: float, y_mm: float, side_mm: float
) -> None:
    """Cut lines around a marker's square."""
    dash = 2.0
    for k in range(int(side_mm / (2 * dash)) + 1):
        a = k * 2 * dash
        b = min(a + dash, side_mm)
        for x0, y0, x1, y1 in (
            (x_mm + a, y_mm, x_mm + b, y_mm),
            (x_mm + a, y_mm + side_mm, x_mm + b, y_mm + side_mm),
            (x_mm, y_mm + a, x_mm, y_mm + b),
            (x_mm + side_mm, y_mm + a, x_mm + side_mm, y_mm + b),
        ):
            draw.line((scale(x0), scale(y0), scale(x1), scale(y1)), fill=96, width=scale(0.25))
