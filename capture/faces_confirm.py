"""The confirmation of the frontal passes' boxes: a face has eyes, a patch of wound does not.

The frontal cascade (:mod:`capture.faces_passes`) sees a face in some patches of wound and
skin texture: on 104 wound scenes without a face that no setting had been chosen on, it
proposed 14 areas (``bench/README.md``, issue 17 §4, round 5b). A second look at the same
resolution does not tell them apart: OpenCV's other frontal cascades, trained on the same
kind of faces, fire on the same patches. The eyes do. A frontal box is kept (:func:`confirmed`)
when any of these holds:

* its group holds at least :data:`SURE_NEIGHBORS` windows: the cascade fires all around a
  face, only here and there on texture (free: ``groupRectangles`` counts them);
* OpenCV's eye cascade passes at least :data:`LEAST_EYES` windows in the upper part of the
  box, taken from the photo at the resolution it was given in (where the eyes of a face of
  5 % of a 3000-pixel photo are 30 pixels wide, against 6 on the detection copy), turned
  upright as the pass that found it saw it and brought to :data:`PATCH_SIDE` pixels
  (:func:`upright`, :func:`eye_windows`);
* its eye band is darker than the lower face by :data:`SHADED_EYES` or more
  (:func:`eye_shade`): dark glasses, eyes in the shade, which the eye cascade cannot see.

Chosen on those 104 scenes (and on the real faces of the benchmark, none of which it loses,
nor of them with their eye band darkened), then checked on 156 wound scenes never looked at
before: 11 frontal areas without it, 1 with it (skin pores the eye cascade took for eyes).

The eyes also work the other way: a group one or two windows short of what its pass keeps
(:data:`WEAK_SHORT`), which the cascade alone would drop, is proposed when the eye cascade
passes many windows in it (:func:`rescued`, :data:`RESCUE_EYES`). Real faces all the passes
missed (tilted, mirrored, unevenly lit) show 10 to 82 such windows in the weak groups of the
frontal or the profile passes there; the weak groups of 312 wound scenes at most 4.

A box too small in the photo for its eyes to be seen (:data:`SMALLEST_SIDE`) is kept
unconfirmed: the check only removes what it can judge (a weak one is not rescued). The
profile passes have their own checks (:func:`capture.faces_passes.profile_confirmed`,
:func:`capture.faces_passes.repeats`).
Cost: one crop brought to 120 × 120 pixels and one scan of its upper part per frontal box
that the first rule does not keep, about 3 ms of CPU on a face, less on texture.
"""

from __future__ import annotations

import cv2
import numpy as np

from capture.regions import Image, Rect

EYE_CASCADE = "haarcascade_eye.xml"
PATCH_SIDE = 120
"""The side, in pixels, a frontal box is brought to before its eyes are looked for: an eye
of a face is then about 25 pixels wide, just above the eye cascade's 20."""
UPPER = 0.6
"""The part of the box, from its top, where the eyes are looked for."""
LEAST_EYES = 2
"""A frontal box is kept when the eye cascade passes at least this many windows in it."""
SMALLEST_SIDE = 48
"""Below this side in the photo (pixels), a box is kept without looking for its eyes."""
SURE_NEIGHBORS = 16
"""A frontal box whose group holds at least this many windows is kept without looking for
its eyes (18 to 40 windows on the benchmark's real faces whose eyes the eye cascade does not
see; at most 10 on the wound patches the limit was chosen on)."""
WEAK_SHORT = 2
"""A group with up to this many windows fewer than its pass keeps (its pass's ``neighbors``
and one less: ``groupRectangles`` keeps a group of more than ``neighbors``) is *weak*:
proposed only if :func:`rescued`."""
RESCUE_EYES = 8
"""A weak box is kept when the eye cascade passes at least this many windows in it. Measured
(``bench/README.md``, round 6) on 312 wound scenes (seeds 20–45, 100–125, 200–225, 300–325,
400–425, 500–525, as they are and turned): their weak frontal groups got at most 4, their
weak profile groups at most 2 (upright or at either tilt); the weak groups beside the real
faces of the benchmark at most 6; those on the real faces the passes missed, 10 to 82."""
SHADED_EYES = 0.85
"""A frontal box whose eye band is at most this fraction as bright as its lower face is kept
(:func:`eye_shade`): halfway between the shaded eyes measured (at most 0.80) and the wound
patches (at least 0.93)."""


def upright(
    image: Image, box: Rect, degrees: float = 0.0, *, order: str = "bgr", upper: float = 1.0
) -> Image | None:
    """The grey patch of ``box`` on ``image`` (``order``: ``"bgr"``, ``"rgb"`` or ``"gray"``),
    turned by ``degrees`` about its centre (as :func:`capture.faces_passes.turned` turned the
    copy the box was found on: the face then stands upright), :data:`PATCH_SIDE` pixels wide
    and ``upper`` of that high from the box's top; ``None`` when the box lies outside."""
    height, width = image.shape[:2]
    side = max(box.width, box.height)
    cx, cy = box.x + box.width / 2, box.y + box.height / 2
    reach = side * 0.75  # half the box's diagonal, turned: what the patch may take
    x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
    x1, y1 = min(width, int(np.ceil(cx + reach))), min(height, int(np.ceil(cy + reach)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = image[y0:y1, x0:x1]
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY if order == "bgr" else cv2.COLOR_RGB2GRAY)
    factor = PATCH_SIDE / side
    if factor < 1.0:  # an area average first: a linear warp alone would alias the texture
        size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        factor_x, factor_y = crop.shape[1] / (x1 - x0), crop.shape[0] / (y1 - y0)
        centre = ((cx - x0) * factor_x, (cy - y0) * factor_y)
        turn = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    else:
        centre = (cx - x0, cy - y0)
        turn = cv2.getRotationMatrix2D(centre, degrees, factor)
    turn[0, 2] += PATCH_SIDE / 2 - centre[0]
    turn[1, 2] += PATCH_SIDE / 2 - centre[1]
    return cv2.warpAffine(
        np.ascontiguousarray(crop),
        turn,
        (PATCH_SIDE, round(PATCH_SIDE * upper)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def eye_windows(
    eyes: cv2.CascadeClassifier,
    image: Image,
    box: Rect,
    degrees: float = 0.0,
    *,
    order: str = "bgr",
) -> int:
    """How many windows of the eye cascade ``eyes`` pass in the upper part of ``box``, a
    frontal box on ``image`` found on a copy turned by ``degrees``, turned upright
    as that copy saw it and brought to :data:`PATCH_SIDE` pixels (:func:`upright`)."""
    patch = upright(image, box, degrees, order=order)
    return 0 if patch is None else _eye_windows(eyes, patch)


def _eye_windows(eyes: cv2.CascadeClassifier, patch: Image) -> int:
    """The eye cascade's windows in the top :data:`UPPER` of an upright ``patch``."""
    found = eyes.detectMultiScale(
        patch[: round(patch.shape[1] * UPPER)],
        scaleFactor=1.1,
        minNeighbors=0,
        minSize=(20, 20),
        maxSize=(round(0.4 * PATCH_SIDE), round(0.4 * PATCH_SIDE)),
    )
    return len(found)


def eye_shade(patch: Image) -> float:
    """The mean of the eye band of an upright face ``patch`` (:func:`upright` with the whole
    box: from a quarter to half its height, the middle three fifths of its width) over the
    mean of the lower face (from 0.55 to 0.85 of its height), from 0 up.

    Measured (``bench/README.md``, round 5b): on the frontal boxes of the wound scenes the
    confirmation was chosen on, 0.93 to 1.0 (texture is even); on the real faces whose eye
    band was darkened to 0 to 0.35 of itself, at most 0.80; on the 100 real faces in every
    variant, 0.49 to 1.47 (eyes, brows and shade, or a bright forehead)."""
    side = patch.shape[1]
    columns = slice(round(0.2 * side), round(0.8 * side))
    band = patch[round(0.25 * side) : round(0.5 * side), columns]
    lower = patch[round(0.55 * side) : round(0.85 * side), columns]
    if band.size == 0 or lower.size == 0:
        return 1.0
    return float(band.mean()) / max(1.0, float(lower.mean()))


def confirmed(
    eyes: cv2.CascadeClassifier,
    image: Image,
    box: Rect,
    degrees: float = 0.0,
    *,
    neighbors: int = 0,
    order: str = "bgr",
    shade: bool = True,
) -> bool:
    """Whether the frontal box ``box`` of ``image``, found on a copy turned by ``degrees``
    with ``neighbors`` windows in its group, is kept (see the module's text); without
    ``shade``, a shaded eye band does not keep it (a box of the pass on the evened copy)."""
    if neighbors >= SURE_NEIGHBORS or max(box.width, box.height) < SMALLEST_SIDE:
        return True
    patch = upright(image, box, degrees, order=order)
    if patch is None:
        return False
    if shade and eye_shade(patch) <= SHADED_EYES:
        return True
    return _eye_windows(eyes, patch) >= LEAST_EYES


def rescued(
    eyes: cv2.CascadeClassifier,
    image: Image,
    box: Rect,
    angles: tuple[float, ...] = (0.0,),
    *,
    order: str = "bgr",
) -> bool:
    """Whether a weak box (its group :data:`WEAK_SHORT` windows or fewer short of what its
    pass asks for) shows eyes plainly: at least :data:`RESCUE_EYES` windows of the eye
    cascade in its upper part turned by one of ``angles`` (:func:`eye_windows`). Neither the
    window count nor the shade rule applies: a weak group is the cascade's doubt, the eyes
    must settle it; a box too small to show them (:data:`SMALLEST_SIDE`) is not rescued."""
    if max(box.width, box.height) < SMALLEST_SIDE:
        return False
    return any(
        eye_windows(eyes, image, box, degrees, order=order) >= RESCUE_EYES for degrees in angles
    )
