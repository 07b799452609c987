"""Where the face detector's passes look: a few scales everywhere, the others near what was seen.

A Haar pass (:mod:`capture.faces_passes`) evaluates a window at every position of every
scale of a pyramid (scale step 1.1), and nearly all of that work goes to windows of textured
skin far from any face. A *gated* pass scans the whole copy at one scale in ``every`` (its
gate scales, a different phase for each pass), and its other scales only around the *seeds*:
the raw windows (before grouping) that the gate scales of **any** of the passes found, mapped
onto its copy, of a size within :data:`REACH` steps of the scale, with a margin of
:data:`MARGIN` times their size on each side. Then all its windows are grouped as a full
pass groups them (``cv2.groupRectangles``, with OpenCV's own 0.2).

The windows scanned around the seeds are those a full pass evaluates there: each scale's
copy is resized as OpenCV resizes it (``INTER_LINEAR_EXACT`` to the same rounded size), a
crop of it starts on the scan's grid and is scanned at OpenCV's scale 1 (a step of 2 pixels,
as below a scale of 2) or, from a scale of 2, doubled and scanned at OpenCV's scale 2 (which
halves it back exactly, with a step of 1), and a box is mapped back as OpenCV maps it (a test
compares the windows at every scale). So a gated pass finds what the full pass finds wherever
some gate saw a window of a nearby size, and proposes nothing the full pass would not (up to
the first positions of a crop's rows, where OpenCV's skip after a window rejected at its
first stage may fall differently). What it loses is
a face all of whose raw windows lie at scales no gate scanned, with no other pass's gate
seeing it either. Measured on the 100 real faces in every variant at 5 and 8 %, the 100
background patches and the wound scenes (``bench/README.md``, round 5): the same faces found,
about 0.65 of the passes' CPU on the 24 MP benchmark photo and 0.45 on a wound scene.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from capture.faces_passes import PassCopy, scaled
from capture.regions import PROFILE, Image, Rect

REACH = 3
"""A seed opens the scales within this many steps (×1.1 each) of its size: 1.33 either way."""
MARGIN = 1.0
"""Around a seed, this many times its size is scanned on each side."""
SEEDED = 0
"""``Pass.every`` for a pass with no gate scale of its own."""
GROUP_EPS = 0.2
"""``cv2.groupRectangles``'s ``eps``: what ``detectMultiScale`` groups its windows with."""

Raw = tuple[int, int, int, int]
"""A window that passed every stage of the cascade: x, y, width, height on the pass's copy."""
Scan = Callable[[cv2.CascadeClassifier, Image, float, int, int], list[Raw]]
"""``scan(cascade, image, scale_factor, least, most)``: the raw windows of sides ``least`` to
``most`` (``detectMultiScale`` with no grouping). Every scan of a pass goes through it."""


@dataclass(frozen=True)
class Pass:
    """One cascade over one copy: the neighbours its groups need, its smallest window, the
    origin of its boxes, the factor from its copy to the detection copy, and its gate: one
    scale in ``every`` (at ``phase``) scanned everywhere, a full pass when ``every`` is 1,
    none when it is 0 (:data:`SEEDED`: every scale only around the other passes' seeds)."""

    cascade: cv2.CascadeClassifier
    copy: PassCopy
    neighbors: int
    least: int
    origin: str
    factor: float = 1.0
    every: int = 1
    phase: int = 0


@dataclass(frozen=True)
class Scale:
    """One scale of a pass's pyramid, as OpenCV computes it: its index (``scale_factor ** index``),
    factor (a float32, as OpenCV keeps it), window side on the copy and resized copy's size."""

    index: int
    factor: float
    window: int
    size: tuple[int, int]


def pyramid(
    cascade: cv2.CascadeClassifier, scale_factor: float, least: int, shape: Sequence[int]
) -> list[Scale]:
    """The scales ``detectMultiScale`` scans on an image of ``shape`` from windows of ``least``."""
    base = cascade.getOriginalWindowSize()[0]
    height, width = shape[:2]
    found: list[Scale] = []
    factor, index = 1.0, 0
    while True:
        kept = float(np.float32(factor))
        window = round(base * factor)
        size = (round(width / kept), round(height / kept))
        if window > min(width, height) or min(size) < base:
            return found
        if window >= least:
            found.append(Scale(index, kept, window, size))
        factor *= scale_factor
        index += 1


def gate(p: Pass, scale_factor: float, scan: Scan) -> list[Raw]:
    """The raw windows of ``p``'s gate scales (all its scales when it is not gated)."""
    image = p.copy.image
    if p.every == 1:
        return scan(p.cascade, image, scale_factor, p.least, max(image.shape[:2]))
    if p.every == SEEDED:
        return []
    found: list[Raw] = []
    for s in pyramid(p.cascade, scale_factor, p.least, image.shape):
        if s.index % p.every == p.phase:
            found += scan(p.cascade, image, scale_factor, s.window, s.window)
    return found


Seed = tuple[float, float, float, str]
"""Where a gate saw a window: its centre and side, on the detection copy, and the origin
(:data:`capture.regions.FRONTAL` or ``PROFILE``) of the pass that saw it."""


def seeds(passes: Sequence[Pass], raws: Sequence[list[Raw]]) -> list[Seed]:
    """Every gate window of every pass, on the detection copy."""
    found = []
    for p, windows in zip(passes, raws, strict=True):
        width = p.copy.image.shape[1]
        for x, y, w, h in windows:
            r = scaled(p.copy.to_copy(Rect(x, y, w, h), width), p.factor)
            found.append((r.x + r.width / 2, r.y + r.height / 2, float(r.width), p.origin))
    return found


def fine(p: Pass, found: Sequence[Seed], scale_factor: float, scan: Scan) -> list[Raw]:
    """The raw windows of ``p``'s other scales around the seeds ``found`` (none when ``p``
    is not gated: its gate scanned every scale).

    A profile pass looks only around what the profile gates saw: the many windows of a
    frontal face would open every profile scale around it for nothing (on the 24 MP
    benchmark photo, 23 ms of CPU per profile pass instead of 8), and on the 100 real faces in
    every variant the same faces are found either way."""
    if p.every == 1 or not found:
        return []
    image = p.copy.image
    width = image.shape[1]
    forward = None if p.copy.inverse is None else cv2.invertAffineTransform(p.copy.inverse)
    mine = []
    for cx, cy, side, origin in found:  # onto this pass's copy
        if p.origin == PROFILE and origin != PROFILE:
            continue  # see the docstring
        if forward is not None:
            cx, cy = forward @ np.array([cx, cy, 1.0])
        cx, cy, side = cx / p.factor, cy / p.factor, side / p.factor
        mine.append((width - cx if p.copy.mirrored else cx, cy, side))
    reach = scale_factor**REACH * 1.0001
    windows: list[Raw] = []
    for s in pyramid(p.cascade, scale_factor, p.least, image.shape):
        if p.every != SEEDED and s.index % p.every == p.phase:
            continue
        areas = [
            (cx - half, cy - half, cx + half, cy + half)
            for cx, cy, side in mine
            if s.window / reach <= side <= s.window * reach
            for half in (side * (0.5 + MARGIN) + 2,)
        ]
        if areas:
            windows += around(p.cascade, image, s, areas, scan)
    return windows


def around(
    cascade: cv2.CascadeClassifier,
    image: Image,
    s: Scale,
    areas: list[tuple[float, float, float, float]],
    scan: Scan,
) -> list[Raw]:
    """The raw windows of scale ``s`` inside ``areas`` (x0, y0, x1, y1 on ``image``), the very
    windows a full pass evaluates there (see the module's text)."""
    base = cascade.getOriginalWindowSize()[0]
    resized = cv2.resize(image, s.size, interpolation=cv2.INTER_LINEAR_EXACT)
    width, height = s.size
    boxes = []
    for x0, y0, x1, y1 in areas:  # on the resized copy, starting on the scan's grid
        u0 = max(0, int(x0 / s.factor)) // 2 * 2
        v0 = max(0, int(y0 / s.factor)) // 2 * 2
        u1 = min(width, math.ceil(x1 / s.factor) + 1)
        v1 = min(height, math.ceil(y1 / s.factor) + 1)
        if u1 - u0 >= base and v1 - v0 >= base:
            boxes.append((u0, v0, u1, v1))
    found: list[Raw] = []
    for u0, v0, u1, v1 in joined(boxes):
        crop = np.ascontiguousarray(resized[v0:v1, u0:u1])
        if s.factor < 2:  # OpenCV's step below a scale of 2 is 2 pixels: so it is at scale 1
            seen = scan(cascade, crop, 1.1, base, base)
            at = [(x, y) for x, y, _, _ in seen]
        else:  # a step of 1: the crop doubled, which OpenCV's scale of 2 brings back exactly
            double = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
            seen = scan(cascade, double, 2.0, 2 * base, 2 * base)
            at = [(x // 2, y // 2) for x, y, _, _ in seen]
        for x, y in at:
            found.append(
                (round((x + u0) * s.factor), round((y + v0) * s.factor), s.window, s.window)
            )
    return found


def joined(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """``boxes`` (x0, y0, x1, y1), those that overlap replaced by their union until none do:
    no window is scanned twice."""
    items = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                a, b = items[i], items[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    items[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del items[j]
                    merged = True
                    break
            if merged:
                break
    return items


def grouped(windows: list[Raw], neighbors: int) -> list[tuple[Raw, int]]:
    """``windows`` grouped as ``detectMultiScale`` groups them with ``minNeighbors``, each
    group with the number of windows it holds (its *neighbours*)."""
    if not windows:
        return []
    rects, weights = cv2.groupRectangles([list(w) for w in windows], neighbors, GROUP_EPS)
    counts = np.asarray(weights).reshape(-1)
    return [
        ((int(x), int(y), int(w), int(h)), int(n))
        for (x, y, w, h), n in zip(rects, counts, strict=True)
    ]
