"""Photos decoded on worker threads by Pillow into QImages (widgets/imagedecode.py)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from widgets.imagedecode import decode_image


def _jpeg(width: int, height: int) -> bytes:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (200, 30, 30)  # red left half, blue right half
    rgb[:, width // 2 :] = (30, 30, 200)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=92)
    return out.getvalue()


def test_a_photo_is_decoded_whole_with_its_colours_in_place() -> None:
    image = decode_image(_jpeg(640, 480))
    assert (image.width(), image.height()) == (640, 480)
    left, right = image.pixelColor(100, 240), image.pixelColor(540, 240)
    assert (left.red() > 150, left.blue() < 80) == (True, True)
    assert (right.blue() > 150, right.red() < 80) == (True, True)


def test_a_thumbnail_fits_its_edge_and_keeps_the_aspect() -> None:
    image = decode_image(_jpeg(3000, 2000), 160)
    assert max(image.width(), image.height()) == 160
    assert abs(image.width() / image.height() - 1.5) < 0.02


def test_what_cannot_be_read_is_a_null_image() -> None:
    assert decode_image(b"not a picture").isNull()
    assert decode_image(b"").isNull()
    assert (
        decode_image(_jpeg(64, 64)[:200]).isNull()
        or decode_image(_jpeg(64, 64)[:200]).width() == 64
    )


def test_a_picture_declaring_huge_dimensions_is_not_decoded() -> None:
    """A PNG header claiming 60,000 x 60,000 pixels: refused before any pixel is made."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    data[16:24] = (60_000).to_bytes(4, "big") * 2  # IHDR width and height
    assert decode_image(bytes(data)).isNull()
