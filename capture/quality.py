"""The quality gate: is this frame sharp enough and well exposed enough to be diagnostic?

Measured on a grey copy resized to :data:`ANALYSIS_EDGE` pixels on its long side, so that
figures do not depend on the camera's resolution:

- ``sharpness``: variance of the Laplacian (the classic focus measure), brought to a
  mid-grey exposure (times ``(128 / brightness)²``): the Laplacian grows with contrast, so
  without this a dim but sharp photo would be called blurred. A sharp textured skin scene
  scores over a hundred, the same scene out of focus in single figures.
- ``highlights`` / ``shadows``: fraction of pixels clipped white (≥ 250) or black (≤ 5).
- ``brightness``: mean grey level, 0–255, of the pixels that are not clipped black: the
  subject, not the black backdrop clinical photographers put behind it (nor a dark eschar).
  A frame that is nearly all black is judged as a whole.

Thresholds were tuned on the synthetic scenes of ``tests/support/scenes.py`` (a sharp
textured skin-and-wound scene, the same blurred with a gaussian of sigma 3 and more, blown
out, and dimmed) and checked on real photographs (``tests/core/test_capture_quality.py``);
they flag, they never refuse: the doctor decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from capture.regions import Image

ANALYSIS_EDGE = 1024

BLURRY = "blurry"
OVEREXPOSED = "overexposed"
UNDEREXPOSED = "underexposed"

SHARPNESS_MIN = 40.0
"""Below this Laplacian variance, the frame is flagged ``blurry``."""
CLIPPED_MAX = 0.05
"""More than this fraction of pixels clipped white flags overexposure. (Clipped black does
not: a black backdrop is not underexposure; ``brightness`` judges what is lit.)"""
LIT_MIN = 0.10
"""Below this fraction of pixels not clipped black, the frame is judged as a whole."""
BRIGHTNESS_MAX = 215.0
"""A mean grey level above this flags ``overexposed`` even without much clipping."""
BRIGHTNESS_MIN = 45.0
"""A mean grey level below this flags ``underexposed`` even without much clipping."""


@dataclass(frozen=True)
class Quality:
    """What :func:`assess` measured, and the flags it raised (empty when all is well)."""

    sharpness: float
    highlights: float
    shadows: float
    brightness: float
    flags: frozenset[str]

    @property
    def ok(self) -> bool:
        return not self.flags


def analysis_copy(frame: Image, *, order: str = "bgr") -> Image:
    """The grey copy the measures are taken on: long side :data:`ANALYSIS_EDGE`, or the
    frame's own size if smaller (upscaling would invent softness)."""
    height, width = frame.shape[:2]
    scale = ANALYSIS_EDGE / max(width, height)
    small = frame
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 2 or order == "gray":
        return small
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY if order == "bgr" else cv2.COLOR_RGB2GRAY)


def assess(frame: Image, *, order: str = "bgr") -> Quality:
    """Measures sharpness and exposure of ``frame`` (``order``: ``bgr``, ``rgb``, ``gray``)."""
    gray = analysis_copy(frame, order=order)
    laplacian = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    histogram = np.bincount(gray.ravel(), minlength=256)
    total = float(gray.size)
    highlights = float(histogram[250:].sum()) / total
    shadows = float(histogram[:6].sum()) / total
    lit = histogram[6:]
    if lit.sum() >= LIT_MIN * total:
        brightness = float((lit * np.arange(6, 256)).sum() / lit.sum())
    else:
        brightness = float(gray.mean())
    sharpness = laplacian * (128.0 / max(brightness, 1.0)) ** 2
    flags: set[str] = set()
    if highlights > CLIPPED_MAX or brightness > BRIGHTNESS_MAX:
        flags.add(OVEREXPOSED)
    if brightness < BRIGHTNESS_MIN:
        flags.add(UNDEREXPOSED)
    # A blown-out or black frame has no detail left to judge: do not also call it blurry.
    if sharpness < SHARPNESS_MIN and not flags:
        flags.add(BLURRY)
    return Quality(sharpness, highlights, shadows, brightness, frozenset(flags))
