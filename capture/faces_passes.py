"""The passes of the face detector: which cascade scans which copy, and how its boxes come back.

:class:`capture.faces.FaceDetector` runs several Haar passes on a prepared grey copy of the
photo (see :func:`detection_copy`):

* the frontal cascade on the copy itself, upright;
* the frontal cascade on the copy turned by each of :data:`TILTS` (a frontal cascade finds
  faces within about 10 degrees of upright only; real faces in a wound photo are rarely
  upright). The turned copy is enlarged so that no corner of the photo is cut off, and
  each box found comes back around its centre, turned back (see :meth:`PassCopy.to_copy`);
* the profile cascade on a smaller copy (profiles are found as well there, and the
  profile cascade is the slowest), and on that copy's mirror, because it was trained on
  faces turned one way only; a box of theirs is kept only if the profile cascade finds it
  again at two other resolutions (:func:`profile_confirmed`) and it does not repeat at a
  regular pitch, as the ticks of a ruler do (:func:`repeats`).

Which windows of each pass are scanned (a few scales everywhere, the others around what
those saw): :mod:`capture.faces_gate`.

Why these passes, at which sizes, and what they cost: ``bench/README.md`` (the candidates
measured, among them MediaPipe's BlazeFace, and the figures of the chosen settings).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from capture.regions import Image, Rect

TILTS = (-15.0, 15.0)
"""Degrees the copy is turned by for the extra frontal passes (anticlockwise positive)."""


@dataclass(frozen=True)
class PassCopy:
    """The grey image one pass scans, and how its coordinates map to the detection copy.

    ``inverse`` is the 2 × 3 affine transform from this image's pixels to the detection
    copy's (``None``: the same pixels); ``mirrored`` says the image is the copy's mirror;
    ``degrees``, how far the copy was turned (:func:`turned`); ``evened``, whether its light
    was evened (:func:`evened`).
    """

    image: Image
    inverse: np.ndarray | None = None
    mirrored: bool = False
    degrees: float = 0.0
    evened: bool = False

    def to_copy(self, found: Rect, copy_width: int) -> Rect:
        """``found`` (a box on :attr:`image`) as an upright box on the detection copy.

        A box found on a turned copy comes back as a box of the same size around the same
        centre: the face in it is turned by a few degrees, and the padding every proposal
        gets (a quarter of its size on each side) covers the corners that stick out. The
        upright bounding box of the turned box would be half as large again, and merge the
        areas of faces close to each other.
        """
        if self.mirrored:
            return Rect(copy_width - found.x - found.width, found.y, found.width, found.height)
        if self.inverse is None:
            return found
        centre = np.array([found.x + found.width / 2, found.y + found.height / 2, 1.0])
        x, y = self.inverse @ centre
        return Rect(
            round(x - found.width / 2), round(y - found.height / 2), found.width, found.height
        )


def detection_copy(image: Image, edge: int, *, order: str = "bgr") -> tuple[Image, float]:
    """A grey copy of ``image`` at most ``edge`` pixels long, lightly smoothed, and its scale.

    The gaussian (sigma 1 px) takes the grain of skin and wound texture out of the copy:
    the cascades' first stages then reject such windows sooner (2.5 times less work on a
    textured 24 MP scene in our measures) and the schematic faces of the tests are found
    at least as well. Not histogram-equalised: that amplifies the grain instead.

    ``scale`` maps the copy back: a copy coordinate divided by ``scale`` is an image
    coordinate. ``order`` is ``"bgr"`` (OpenCV frames), ``"rgb"`` or ``"gray"``.
    """
    height, width = image.shape[:2]
    scale = min(1.0, edge / max(width, height))
    gray = image
    if order != "gray" and image.ndim == 3:  # grey first: a third of the pixels to average
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if order == "bgr" else cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(gray, (0, 0), 1.0), scale


EVEN_SIGMA = 8.0
"""The scale, in pixels of the detection copy, of the light :func:`evened` takes out."""


def evened(gray: Image, sigma: float = EVEN_SIGMA) -> PassCopy:
    """``gray`` divided by its local mean (a gaussian of ``sigma``), at mid-grey: a light
    that changes across a face (a window's side light) is taken out, its features kept.
    The local mean is taken on a copy a quarter the size and brought back: the light
    changes slowly, and it costs a tenth of a full-size blur."""
    height, width = gray.shape[:2]
    small = cv2.resize(
        gray, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA
    )
    mean = cv2.resize(
        cv2.GaussianBlur(small, (0, 0), sigma / 4), (width, height), interpolation=cv2.INTER_LINEAR
    )
    flat = cv2.divide(gray, np.maximum(mean, 1), scale=128.0)
    return PassCopy(flat, evened=True)


def turned(gray: Image, degrees: float, fill: int | None = None) -> PassCopy:
    """``gray`` turned by ``degrees`` about its centre on a canvas large enough to hold all
    of it (the corners are where faces at the edge of a photo are), the new margins filled
    with the copy's mean grey (or ``fill``).

    Mean grey rather than black: the edge between a black margin and the photo passes the
    cascade's first stages all along it, and costs a fifth of a turned pass's work (on the
    benchmark's 24 MP photo, the two turned passes take 253 ms of CPU instead of 313 on
    their copies). Measured on the 100 real faces in every variant, the 100 background
    patches and 52 wound scenes: the same faces found, and one false area fewer on the
    wound scenes (``bench/README.md``)."""
    height, width = gray.shape[:2]
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    new_width = int(np.ceil(height * sin + width * cos))
    new_height = int(np.ceil(height * cos + width * sin))
    forward[0, 2] += new_width / 2 - width / 2
    forward[1, 2] += new_height / 2 - height / 2
    image = cv2.warpAffine(
        gray,
        forward,
        (new_width, new_height),
        flags=cv2.INTER_LINEAR,
        borderValue=round(cv2.mean(gray)[0]) if fill is None else fill,
    )
    return PassCopy(image, cv2.invertAffineTransform(forward), degrees=degrees)


def profile_copies(gray: Image, edge: int) -> tuple[PassCopy, PassCopy, float]:
    """The copies the profile passes scan: ``gray`` at most ``edge`` pixels long, and its
    mirror; and the factor from their coordinates to ``gray``'s (1 when not reduced)."""
    height, width = gray.shape[:2]
    scale = min(1.0, edge / max(width, height))
    small = gray
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    back = width / small.shape[1]
    mirror = np.ascontiguousarray(small[:, ::-1])
    return PassCopy(small), PassCopy(mirror, mirrored=True), back


def scaled(rect: Rect, factor: float) -> Rect:
    """``rect`` with every coordinate multiplied by ``factor``."""
    if factor == 1.0:
        return rect
    return Rect(
        round(rect.x * factor),
        round(rect.y * factor),
        round(rect.width * factor),
        round(rect.height * factor),
    )


VERIFY_SCALES = ((1.0, 2), (0.6, 1))
"""Where a profile box is looked at again: (scale of the detection copy, neighbours)."""


def profile_confirmed(
    cascade: cv2.CascadeClassifier, gray: Image, rect: Rect, *, mirrored: bool
) -> bool:
    """Whether the profile cascade finds a face of about ``rect``'s size around ``rect`` (a box
    of the profile passes, on the detection copy ``gray``) again, at the detection copy's
    resolution (2 neighbours) and at 0.6 of it (1 neighbour).

    The profile passes run on a smaller copy, where the ticks of a ruler at a photo's edge
    pass for the profile of a face: on 52 wound scenes without a face they proposed 11 areas.
    A face is a face at every resolution, a row of ticks often is not: confirmed this way,
    5 areas are left (:func:`repeats` drops those), and the real faces found are the same
    (2 neighbours at 0.6 leave 4,
    but lose a real face; ``bench/README.md``). The look
    again scans only the box's surroundings (twice its size) and sizes from 0.7 to 1.5 times
    it: a few milliseconds per box.
    """
    height, width = gray.shape[:2]
    x0, y0 = max(0, rect.x - rect.width // 2), max(0, rect.y - rect.height // 2)
    x1 = min(width, rect.x + rect.width + rect.width // 2)
    y1 = min(height, rect.y + rect.height + rect.height // 2)
    crop = gray[y0:y1, x0:x1]
    if crop.size == 0:
        return False
    if mirrored:
        crop = crop[:, ::-1]
    for factor, neighbors in VERIFY_SCALES:
        side = rect.width * factor
        seen = crop
        if factor != 1.0:
            size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
            seen = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        found = cascade.detectMultiScale(
            np.ascontiguousarray(seen),
            scaleFactor=1.1,
            minNeighbors=neighbors,
            minSize=(int(0.7 * side), int(0.7 * side)),
            maxSize=(int(1.5 * side), int(1.5 * side)),
        )
        if len(found) == 0:
            return False
    return True


REPEATS_LIMIT = 0.6
"""A profile box whose rows or columns repeat more than this (:func:`repeats`) is dropped."""


def repeats(gray: Image, rect: Rect) -> float:
    """How regularly the box ``rect`` of ``gray`` repeats along its height or its width: the
    highest peak of the autocorrelation of its mean rows (then of its mean columns), past
    the first trough, from 0 to 1.

    The profile cascade sees a face in the ticks of a ruler at a photo's edge, even at three
    resolutions (:func:`profile_confirmed`); ticks repeat at a regular pitch, a face does not.
    Measured on the profile boxes of 104 wound scenes (seeds 20–45 and, to check it on
    scenes it was not chosen on, 100–125, each as it is and turned a quarter): 11 boxes on
    ruler ticks, from 0.72 to 0.87; on the 261 profile boxes of real faces (the 100 of
    ``tests/support/real_faces.py`` in every variant, at 5 and 8 %, and the tests' schematic
    profiles), at most 0.42 (``bench/README.md``, round 5). A few microseconds per box.
    """
    height, width = gray.shape[:2]
    x0, y0 = max(0, rect.x), max(0, rect.y)
    crop = gray[y0 : min(height, rect.y + rect.height), x0 : min(width, rect.x + rect.width)]
    if crop.size == 0:
        return 0.0
    values = crop.astype(np.float32)
    return max(_repeat(values.mean(axis=1)), _repeat(values.mean(axis=0)))


def _repeat(profile: np.ndarray) -> float:
    """The highest normalised autocorrelation of ``profile`` past its first trough."""
    centred = profile - profile.mean()
    n = len(centred)
    if n < 8:
        return 0.0
    auto = np.correlate(centred, centred, mode="full")[n - 1 :]
    if auto[0] <= 0:
        return 0.0
    auto = auto / auto[0]
    lag = 1
    while lag < n // 2 and auto[lag] > 0 and auto[lag + 1] < auto[lag]:
        lag += 1
    return float(auto[lag : n // 2].max()) if lag < n // 2 else 0.0
