"""``photo``: the first photo of a received request shown, against decoding it alone.

Also the next photo of the same case, the first thumbnail, and how late the GUI thread's timer
gets while a worker decodes a photo.
"""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench import fmt_ratio
from bench.cases.data import (
    BIG_PHOTOS,
    BIG_SIZE,
    Station,
    hand_over,
    make_request,
    photos_of,
    request_of,
    without_fsync,
    write_directory,
)
from bench.cases.measure import goal_text, median_ms, run_child
from bench.cases.qtloop import Ticks, spin

PHOTO_GOAL = 1.5
"""First photo shown from the listing ÷ decoding it alone, at most."""


def child_photo(root: Path, repeat: int) -> None:
    """The specialist opens the first photo of each of two 25 MB requests, alternately (so
    that the store's cache of the last bundle never holds it), against decoding it alone."""
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from cases.photos import Photo
    from widgets.photos import thumbnail

    app = QApplication.instance() or QApplication([])
    target = Station(root / "hospital")
    me = target.unlock("pr-dubois")
    threads, _unreadable = target.workstation.threads(me)
    threads, _unreadable = target.workstation.threads(me)
    assert len(threads) == 2, threads
    cases = [request_of(t) for t in threads]
    shown, alone, reads, following, thumbs, thumbs_alone = [], [], [], [], [], []
    for n in range(repeat):
        first, other = cases[n % 2], cases[(n + 1) % 2]
        photo = first.photos[0]
        started = time.perf_counter()
        data = photo.data
        image = QImage.fromData(data)
        shown.append(time.perf_counter() - started)
        assert image.width() == BIG_SIZE[0], "the photo did not decode"
        started = time.perf_counter()
        QImage.fromData(data)
        alone.append(time.perf_counter() - started)
        started = time.perf_counter()
        QImage.fromData(first.photos[1].data)  # the same bundle: from the store's cache
        following.append(time.perf_counter() - started)
        started = time.perf_counter()
        other.photos[0].data  # noqa: B018 -- the read alone, the cache missed
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        thumb = thumbnail(first.photos[0])  # the other bundle is in the cache now: a miss
        thumbs.append(time.perf_counter() - started)
        assert not thumb.isNull()
        in_memory = Photo("alone.jpg", data, *BIG_SIZE)
        started = time.perf_counter()
        thumbnail(in_memory)
        thumbs_alone.append(time.perf_counter() - started)
    # The viewer decodes on a worker thread (``PhotoViewer._decode``, ``QImage.fromData``):
    # how late a 10 ms timer on the GUI thread gets meanwhile, against ``QImageReader.read``
    # (which the thumbnails use) on the same bytes.
    blocking: dict[str, list[float]] = {"fromData": [], "reader": []}
    decoders = (("fromData", lambda: QImage.fromData(data)), ("reader", lambda: _read(data)))
    for _ in range(repeat):
        for name, decode in decoders:
            ticks = Ticks()
            ticks.start()
            worker = threading.Thread(target=decode)
            worker.start()
            spin(lambda w=worker: not w.is_alive(), 30)  # type: ignore[misc]
            late = ticks.stop()
            blocking[name].append(max(late, default=0.0))
    size = sum(len(p.data) for p in cases[0].photos)
    target.close()
    del app
    print(
        json.dumps(
            {
                "shown": shown,
                "alone": alone,
                "reads": reads,
                "following": following,
                "thumbs": thumbs,
                "thumbs_alone": thumbs_alone,
                "blocking": blocking,
                "request_bytes": size,
                "photo_bytes": len(data),
            }
        )
    )


def _read(data: bytes) -> Any:
    """``data`` decoded at full size by ``QImageReader`` (as ``widgets.photos.thumbnail``
    reads, without its scaling)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QImageReader

    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    return QImageReader(buffer).read()


def photo_rows(
    tmp: Path, template: Path, photos: list[Path], repeat: int
) -> tuple[list[list[str]], str]:
    from app import demo

    root = tmp / "photo"
    shutil.copytree(template, root)
    layout = demo.DemoLayout(root)
    entries = write_directory(layout)
    to = next(e for e in entries if e.id == "pr-dubois")
    unit, hospital = Station(layout.unit), Station(layout.hospital)
    try:
        doctor = unit.unlock("dr-bernard")
        big = photos_of(photos)
        with without_fsync():
            for n in range(2):
                unit.workstation.send_case(doctor, make_request(n, big), to)
            hand_over(unit, hospital, "pr-dubois", "demo-unit")
    finally:
        unit.close()
        hospital.close()
    f = run_child("photo", str(root), str(repeat))
    shown, alone = median_ms(f["shown"]), median_ms(f["alone"])
    thumbs, thumbs_alone = median_ms(f["thumbs"]), median_ms(f["thumbs_alone"])
    request_mb = f["request_bytes"] / 1e6
    rows = [
        [
            "first photo shown",
            f"from the listing {shown:.0f} ms",
            f"decode alone {alone:.0f} ms",
            f"ratio {fmt_ratio(shown, alone)}",
            f"goal <= {PHOTO_GOAL:.1f} {goal_text(shown / alone <= PHOTO_GOAL)}",
        ],
        [
            "  of which photo.data",
            f"{median_ms(f['reads']):.0f} ms",
            f"(read, decrypt, verify, unpack {request_mb:.1f} MB)",
        ],
        [
            "next photo, same case",
            f"from the listing {median_ms(f['following']):.0f} ms",
            f"decode alone {alone:.0f} ms",
            f"ratio {fmt_ratio(median_ms(f['following']), alone)}",
            "(the store keeps the last bundle's files)",
        ],
        [
            "first thumbnail",
            f"from the listing {thumbs:.0f} ms",
            f"alone {thumbs_alone:.0f} ms",
            f"ratio {fmt_ratio(thumbs, thumbs_alone)}",
            "(160 px, reduced decode: the case view's strip)",
        ],
        [
            "GUI tick late while a worker decodes",
            f"QImage.fromData {statistics.median(f['blocking']['fromData']):.0f} ms",
            f"QImageReader.read {statistics.median(f['blocking']['reader']):.0f} ms",
            "(worst tick of a 10 ms timer, median; the viewer calls QImage.fromData)",
        ],
    ]
    title = (
        f"photo: requests of {BIG_PHOTOS} photos of 3000 x 2000 ({request_mb:.1f} MB,"
        f" {f['photo_bytes'] / 1e6:.1f} MB per photo), specialist, median of {repeat}"
    )
    return rows, title
