"""The passes of the face detector: which cascade scans which copy, and how its boxes come back.

:class:`capture.faces.FaceDetector` runs several Haar passes on a prepared grey copy of the
photo (see :func:`capture.faces.detection_copy`):

* the frontal cascade on the copy itself, upright;
* the frontal cascade on the copy turned by each of :data:`TILTS` (a frontal cascade finds
  faces within about 10 degrees of upright only; real faces in a wound photo are rarely
  upright). The turned copy is enlarged so that no corner of the photo is cut off, and
  each box found comes back around its centre, turned back (see :meth:`PassCopy.to_copy`);
* the profile cascade on a smaller copy (profiles are found as well there, and the
  profile cascade is the slowest), and on that copy's mirror, because it was trained on
  faces turned one way only.

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
    copy's (``None``: the same pixels); ``mirrored`` says the image is the copy's mirror.
    """

    image: Image
    inverse: np.ndarray | None = None
    mirrored: bool = False

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


def turned(gray: Image, degrees: float) -> PassCopy:
    """``gray`` turned by ``degrees`` about its centre on a canvas large enough to hold all
    of it (the corners are where faces at the edge of a photo are), the new margins filled
    with black. (A mean-grey fill costs the frontal cascade less, about 63 ms of CPU instead
    of 91 on a turned 960 px copy, the photo's border then being a weaker edge; but it put a
    second false area on the 20 background patches of ``test_capture_faces_real.py``'s
    24 MP JPEG: not kept.)"""
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
        borderValue=0,
    )
    return PassCopy(image, cv2.invertAffineTransform(forward))


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
