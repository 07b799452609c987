"""Face detection during the decoding of a large JPEG: :func:`load_and_propose`.

While the caller decodes the photo in colour, a second, grey decode at a reduced DCT scale
runs on another thread and the detector (:mod:`capture.faces`) runs on it, so that the two
cores work at once (``bench/README.md``: the same faces found either way).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from capture.faces import FaceDetector, default_detector, propose_regions, scaled_up
from capture.loading import Header, LoadedImage, load_image, orient
from capture.prepare import DEFAULT_MAX_LONG_EDGE
from capture.regions import Regions

_EARLY = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-faces-early")
"""The thread :func:`load_and_propose` detects on while the caller decodes."""

# libjpeg's DCT scale factors, largest first, with OpenCV's flag for a grey decode at each.
_REDUCED_GREY = (
    (8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
    (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    (2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
)


def load_and_propose(
    source: Path | str | bytes,
    *,
    max_long_edge: int | None = None,
    detector: FaceDetector | None = None,
) -> tuple[LoadedImage, Regions]:
    """:func:`capture.loading.load_image` and the face regions of the result, the two at once.

    For a JPEG at least four times as large as the detection copy, a second, grey decode at
    libjpeg's smallest DCT scale that gives twice the detection copy's size (1/2 of a
    24-megapixel photo for the 960 px copy) runs on another thread from the moment the
    header is read, and the detection runs on it while the full decode goes on: the two
    cores work at once instead of one after the other. That grey decode costs its own
    Huffman decoding (the bulk of a reduced decode), which is why smaller files and other
    formats take the plain way (:func:`propose_regions` once the image is loaded). Measured
    on the 100 real faces of ``tests/support/real_faces.py`` in 24-megapixel JPEGs, the two
    ways find the same faces within one or two in a hundred, either way
    (``bench/README.md``).

    Raises:
        CaptureError: as :func:`capture.loading.load_image`.
    """
    detector = detector or default_detector()
    early: list[Future[Regions | None]] = []

    def start(header: Header) -> None:
        flag = _reduction(header, detector.detect_edge)
        if header.format in ("JPEG", "MPO") and flag is not None:
            early.append(_EARLY.submit(_detect_reduced, header, flag, detector))

    loaded = load_image(source, max_long_edge=max_long_edge, on_header=start)
    working_edge = max_long_edge or DEFAULT_MAX_LONG_EDGE
    if early:
        if max_long_edge is not None:  # prepare() follows: its copy is made while detection runs
            loaded.pixels(max_long_edge)
        regions = early[0].result()
        if regions is not None and regions.size == loaded.size:
            return loaded, regions
    return loaded, propose_regions(loaded, detector=detector, working_edge=working_edge)


def _reduction(header: Header, edge: int) -> int | None:
    """OpenCV's flag for the largest DCT reduction whose result is at least twice ``edge``
    long, or ``None`` when even 1/2 is shorter.

    Twice, so that the detection copy is still an area average of several decoded pixels,
    as on the plain way. At 1/8 of a 24-megapixel photo (750 px for a 640 px copy), one of
    48 textured skin scenes got a false face that neither the plain way nor 1/4 proposed.
    """
    long_side = max(header.stored_size)
    for factor, flag in _REDUCED_GREY:
        if -(-long_side // factor) >= 2 * edge:
            return flag
    return None


def _detect_reduced(header: Header, flag: int, detector: FaceDetector) -> Regions | None:
    """The face regions of a JPEG from a grey decode at a reduced DCT scale (``flag``, see
    :func:`load_and_propose`), or ``None`` when OpenCV cannot decode the file (the caller
    then detects on what Pillow decoded, or reports the file as damaged)."""
    buffer = np.frombuffer(header.data, np.uint8)
    try:
        grey = cv2.imdecode(buffer, flag | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return None
    if grey is None or grey.ndim != 2:
        return None
    grey = orient(grey, header.orientation)
    return scaled_up(detector.detect(grey, order="gray"), grey.shape, header.size)
