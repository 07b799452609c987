"""Decoding a photo into a ``QImage`` on a worker thread.

Pillow decodes (it lets the other threads run meanwhile, as the viewer needs), and the
pixels are copied into a ``QImage`` that owns them. No Qt I/O device is made from Python on
a worker: every virtual call Qt makes on such a device (``QBuffer.readData``...) takes
Python's lock from inside Qt, and a full CI run hung with the GUI thread blocked in a signal
emission while two workers sat in ``QImageReader.read`` on such buffers.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image
from PySide6.QtGui import QImage

# Pillow imports its format plugins (C extensions among them) at the first open: done here,
# on the thread importing this module (the GUI thread), rather than on the first worker that
# decodes while the GUI thread runs (a GUI-only test run crashed once with a worker inside
# that import).
Image.init()

MAX_PIXELS = 120_000_000
"""Larger pictures are not decoded (a null image): a bundle's photos are at most 24 MP."""


def decode_image(data: bytes, fit: int | None = None) -> QImage:
    """The picture ``data`` holds, at most ``fit`` pixels on its long edge when given (a JPEG
    is then decoded at a reduced scale, a fraction of a full decode); a null image if it
    cannot be read. Uses no Qt object but the resulting ``QImage``: safe on a worker."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    return QImage()
                if fit is not None and max(width, height) > fit:
                    opened.draft("RGB", (fit, fit))  # JPEG: decoded at 1/2, 1/4 or 1/8
                picture = opened.convert("RGB")
        if fit is not None and max(picture.size) > fit:
            picture.thumbnail((fit, fit), Image.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):  # fmt: skip
        return QImage()
    width, height = picture.size
    raw = picture.tobytes()
    return QImage(raw, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
