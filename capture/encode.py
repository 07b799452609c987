"""Encode prepared pixels as the baseline JPEG that joins a case, on every core.

:func:`encode_jpeg` encodes through OpenCV's libjpeg-turbo, which releases the GIL (Pillow's
encoder holds it), with a restart marker after every row of MCUs. A large image is cut
into horizontal stripes of whole 8-row bands of MCU rows; the stripes are encoded at once
on a small pool and joined: the first stripe's headers with the full height written into
the frame header, then each stripe's entropy-coded data, one ``RST`` marker between two
stripes. Restart markers reset the DC predictors and byte-align the data, the Huffman and
quantisation tables are libjpeg's standard ones for the quality (never optimised per
stripe), and 4:2:2 subsampling averages within a row: the joined file is byte for byte
the file one encoder writes for the whole image (a test checks this), so nothing is
re-encoded and any decoder reads it as one image.

A restart marker every 8 or 16 rows also costs about 2 bytes per row and limits what a
damaged byte can spoil to those rows.

The output holds the JFIF segment, the sRGB ICC profile given, the tables, and nothing
else: no EXIF, XMP, comment or thumbnail.
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from capture.regions import Image as Pixels

MCU_ROWS_PER_STRIPE_STEP = 8
"""Stripes are cut at multiples of this many MCU rows: restart markers count modulo 8, so
every stripe's own markers then carry the numbers they have in the whole image."""
MIN_STRIPE_ROWS = 512
"""Below this many pixel rows per stripe, the pool's overhead outweighs the gain."""
STRIPES = 2

_POOL = ThreadPoolExecutor(max_workers=STRIPES - 1, thread_name_prefix="passavant-encode")


def encode_jpeg(
    pixels: Pixels, *, quality: int, icc_profile: bytes | None = None, order: str = "rgb"
) -> bytes:
    """Baseline JPEG of ``pixels`` (RGB, BGR or grey), 4:2:2, a restart marker per MCU row.

    Raises:
        ValueError: empty pixels, or an ICC profile too large for one segment.
    """
    if pixels.size == 0:
        raise ValueError("no pixels to encode")
    if pixels.ndim == 3 and order == "rgb":
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    height, width = pixels.shape[:2]
    mcu_width, mcu_height = (16, 8) if pixels.ndim == 3 else (8, 8)
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
        cv2.IMWRITE_JPEG_RST_INTERVAL,
        -(-width // mcu_width),
    ]
    cuts = stripe_cuts(height, mcu_height)
    if len(cuts) == 1:
        encoded = [_encode(pixels, params)]
    else:
        bounds = list(zip((0, *cuts[:-1]), cuts, strict=True))
        later = [_POOL.submit(_encode, pixels[a:b], params) for a, b in bounds[1:]]
        first = _encode(pixels[: bounds[0][1]], params)
        encoded = [first, *(future.result() for future in later)]
    return with_icc(join_stripes(encoded, height), icc_profile)


def stripe_cuts(height: int, mcu_height: int) -> list[int]:
    """The end row of each stripe: multiples of 8 MCU rows, about equal, the last ``height``."""
    step = mcu_height * MCU_ROWS_PER_STRIPE_STEP
    count = max(1, min(STRIPES, height // MIN_STRIPE_ROWS))
    cuts = [round(height * i / count / step) * step for i in range(1, count)]
    cuts = [c for c in cuts if 0 < c < height]
    return [*sorted(set(cuts)), height]


def _encode(pixels: Pixels, params: list[int]) -> bytes:
    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(pixels), params)
    if not ok:
        raise ValueError("OpenCV could not encode the JPEG")
    return buffer.tobytes()


def _layout(data: bytes) -> tuple[int | None, int]:
    """Walking the header's segments: where the baseline frame header (SOF0) starts, if
    any, and where the entropy-coded data starts (just after the start-of-scan header)."""
    pos, sof = 2, None
    while True:
        if data[pos] != 0xFF:
            raise ValueError(f"expected a JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xC0:
            sof = pos
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:
            return sof, pos


def join_stripes(stripes: list[bytes], height: int) -> bytes:
    """One JPEG of ``height`` rows from stripes encoded alike (see the module's text).

    Each stripe but the last must hold a multiple of 8 MCU rows and end its scan on a
    restart boundary; ``RST7`` then goes between two stripes (the marker after the last MCU
    row of a band of 8 is always the eighth, ``RST7``).
    """
    first = stripes[0]
    sof, scan = _layout(first)
    if sof is None:
        raise ValueError("the encoder did not write a baseline frame header")
    head = bytearray(first[:scan])
    head[sof + 5 : sof + 7] = struct.pack(">H", height)
    parts = [bytes(head)]
    for index, stripe in enumerate(stripes):
        if not stripe.endswith(b"\xff\xd9"):
            raise ValueError("a stripe does not end with its end-of-image marker")
        start = scan if index == 0 else _layout(stripe)[1]
        parts.append(stripe[start:-2])
        parts.append(b"\xff\xd7" if index < len(stripes) - 1 else b"\xff\xd9")
    return b"".join(parts)


def with_icc(data: bytes, icc_profile: bytes | None) -> bytes:
    """``data`` with an APP2 ``ICC_PROFILE`` segment after its JFIF segment (or its SOI)."""
    if not icc_profile:
        return data
    if len(icc_profile) > 65_519:
        raise ValueError("the ICC profile does not fit in one JPEG segment")
    segment = b"ICC_PROFILE\x00\x01\x01" + icc_profile
    app2 = b"\xff\xe2" + struct.pack(">H", len(segment) + 2) + segment
    pos = 2
    if data[2:4] == b"\xff\xe0":
        pos = 4 + int.from_bytes(data[4:6], "big")
    return data[:pos] + app2 + data[pos:]
