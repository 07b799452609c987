"""Viewer benchmark: painting a 24-megapixel photo in the specialist's viewer.

Figures (see ``bench/README.md``):

* ``paint fitted``: one paint of ``widgets.viewer.ZoomCanvas`` (1280 × 720, the photo fitted,
  its measurements drawn) on the GUI thread, from the smaller copy the decode thread made.
  The peer is what the viewer did before (issue 16): the whole full-size photo drawn scaled
  into the widget (``QPainter.drawImage`` of the full image, smooth transform) on the same
  widget size. ``ratio`` is ours / peer (below 1: the GUI thread does less).
* ``paint 1:1``: the same at 100 %, panned to the middle: ours draws the visible part only;
  the peer the whole image at that scale, unscaled, which the painter clips cheaply: both are
  well under a millisecond; the gain is when zoomed out.
* ``wheel zoom``: from the fitted view, one wheel notch (zoom around the cursor) and the
  paint that follows, against the peer's paint at the new scale.
* ``decode + copies``: on the worker thread, the decode of the JPEG and the halved copies,
  against the decode alone (what the copies add, off the GUI thread).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence

import numpy as np
from PIL import Image

from bench import fmt_ratio, median_seconds, parse_quick, print_table

SIZE = (6000, 4000)


def _jpeg() -> bytes:
    """A 24 MP JPEG with detail everywhere (a ramp and noise)."""
    width, height = SIZE
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 60, (height // 4, width // 4, 3), dtype=np.uint8)
    small = Image.fromarray(rgb).resize(SIZE)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=90)
    return out.getvalue()


def run(quick: bool = False) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QColor, QImage, QPainter
    from PySide6.QtWidgets import QApplication, QWidget

    from capture.measure import line_measurement
    from widgets.viewer import ZoomCanvas, decoded, levels_of

    app = QApplication.instance() or QApplication([])
    repeat = 3 if quick else 10
    data = _jpeg()
    full = decoded(data)
    levels = levels_of(full)

    canvas = ZoomCanvas()
    canvas.resize(1280, 720)
    canvas.image, canvas.levels, canvas.size_px, canvas.loaded = full, levels, SIZE, True
    canvas.set_layers([line_measurement(None, (1000.0, 1000.0), (4000.0, 2500.0))], [])

    class Peer(QWidget):
        """The viewer before issue 16: the full image scaled into the widget at each paint."""

        scale = 0.0

        def paintEvent(self, event: object) -> None:
            painter = QPainter(self)
            painter.fillRect(self.rect(), QColor("#2b2e31"))
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            s = self.scale or min(self.width() / SIZE[0], self.height() / SIZE[1])
            w, h = SIZE[0] * s, SIZE[1] * s
            painter.drawImage(QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h), full)
            painter.end()

    peer = Peer()
    peer.resize(1280, 720)

    def paint(widget: QWidget) -> float:
        return median_seconds(lambda: widget.grab(), repeat)

    rows = [["figure", "ours (ms)", "peer (ms)", "ratio"]]
    ours, theirs = paint(canvas), paint(peer)
    rows.append(
        ["paint fitted", f"{ours * 1000:.1f}", f"{theirs * 1000:.1f}", fmt_ratio(ours, theirs)]
    )
    canvas.set_view(1.0, (SIZE[0] / 2, SIZE[1] / 2))
    peer.scale = 1.0
    ours, theirs = paint(canvas), paint(peer)
    rows.append(
        ["paint 1:1", f"{ours * 1000:.1f}", f"{theirs * 1000:.1f}", fmt_ratio(ours, theirs)]
    )
    canvas.set_view(None)

    def zoom() -> None:
        canvas.set_view(None)  # from the fitted view, one notch in, each time
        canvas.zoom_at(1.25, QPointF(400, 300))
        canvas.grab()

    ours = median_seconds(zoom, repeat)
    peer.scale = canvas.scale()
    theirs = paint(peer)
    rows.append(
        ["wheel zoom", f"{ours * 1000:.1f}", f"{theirs * 1000:.1f}", fmt_ratio(ours, theirs)]
    )
    copies = median_seconds(lambda: levels_of(decoded(data)), max(2, repeat // 3))
    alone = median_seconds(lambda: decoded(data), max(2, repeat // 3))
    rows.append(
        [
            "decode + copies (worker)",
            f"{copies * 1000:.0f}",
            f"{alone * 1000:.0f}",
            fmt_ratio(copies, alone),
        ]
    )
    print_table("viewer: a 24 MP photo in a 1280 × 720 canvas (GUI thread unless said)", rows)
    print()
    assert isinstance(full, QImage)
    del app


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_quick(argv, "Paint a 24 MP photo in the viewer, against the earlier viewer."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
