"""The confirmation of the frontal passes' boxes: a face has eyes, a patch of wound does not.

The frontal cascade (:mod:`capture.faces_passes`) sees a face in some patches of wound and
skin texture: on 104 wound scenes without a face that no setting had been chosen on, it
proposed 14 areas (``bench/README.md``, issue 17 §4, round 5b). A second look at the same
resolution does not tell them apart: OpenCV's other frontal cascades, trained on the same
kind of faces, fire on the same patches. The eyes do: OpenCV's eye cascade, run on the upper
part of the box taken from the photo at its full resolution (where the eyes of a face of 5 %
of a 3000-pixel photo are 30 pixels wide, against 6 on the detection copy), turned upright
as the pass that found it saw it and brought to :data:`PATCH_SIDE` pixels, finds at least
:data:`LEAST_EYES` raw windows of an eye on nearly every real face and none or one on those
patches.

A box too small in the photo for its eyes to be seen (:data:`SMALLEST_SIDE`) is kept
unconfirmed: the check can only remove what it can judge. The profile passes have their own
checks (:func:`capture.faces_passes.profile_confirmed`, :func:`capture.faces_passes.repeats`).
One crop of a few thousand pixels and one small scan per frontal box: about a tenth of a
millisecond each.
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
its eyes: a face behind dark glasses or in the shade shows none, but the cascade fires all
around it (18 to 40 windows on such faces of the benchmark; at most 10 on the wound patches
it was chosen on)."""


def eye_windows(
    eyes: cv2.CascadeClassifier,
    image: Image,
    box: Rect,
    degrees: float = 0.0,
    *,
    order: str = "bgr",
) -> int:
    """How many windows of the eye cascade ``eyes`` pass in the upper part of ``box``, a
    frontal box on ``image`` (``order``: ``"bgr"``, ``"rgb"`` or ``"gray"``) found on a
    copy turned by ``degrees`` (:func:`capture.faces_passes.turned`), turned upright
    as that copy saw it and brought to :data:`PATCH_SIDE` pixels."""
    height, width = image.shape[:2]
    side = max(box.width, box.height)
    cx, cy = box.x + box.width / 2, box.y + box.height / 2
    reach = side * 0.75  # half the box's diagonal, turned: what the patch may take
    x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
    x1, y1 = min(width, int(np.ceil(cx + reach))), min(height, int(np.ceil(cy + reach)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0
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
    patch = cv2.warpAffine(
        np.ascontiguousarray(crop),
        turn,
        (PATCH_SIDE, round(PATCH_SIDE * UPPER)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    found = eyes.detectMultiScale(
        patch,
        scaleFactor=1.1,
        minNeighbors=0,
        minSize=(20, 20),
        maxSize=(round(0.4 * PATCH_SIDE), round(0.4 * PATCH_SIDE)),
    )
    return len(found)


def has_eyes(
    eyes: cv2.CascadeClassifier,
    image: Image,
    box: Rect,
    degrees: float = 0.0,
    *,
    order: str = "bgr",
) -> bool:
    """Whether the frontal box ``box`` of ``image`` is kept: large enough there to judge, and
    with eyes (see :func:`eye_windows`); or too small to judge."""
    if max(box.width, box.height) < SMALLEST_SIDE:
        return True
    return eye_windows(eyes, image, box, degrees, order=order) >= LEAST_EYES
