"""Face detection, to propose the areas to blur before a photo joins a case.

OpenCV's Haar cascades, which ship inside OpenCV's own wheel: the frontal cascade, upright
and on the copy turned by 15 degrees each way (real faces are rarely upright), and the
profile cascade run twice, on the image and on its mirror, because it was trained on faces
turned one way only, a profile box being kept only if found again at two other resolutions
and if it does not repeat at a regular pitch as a ruler's ticks do (the passes:
:mod:`capture.faces_passes`). Each pass scans every position of a few of its scales, and its
other scales only around what those saw (:mod:`capture.faces_gate`: the same faces found
for about half the work). A frontal box is kept only if it holds many windows, or if the
photo shows eyes or a shaded eye band there (:mod:`capture.faces_confirm`: wound texture
the frontal cascade takes for a face does not). Detection runs on a grey copy
(``detect_edge`` pixels on the long side, 960: large enough for faces of 5 % of the
photo's width), and the boxes come back in the coordinates of the image given, padded so
that hair, ears and chin are covered too, and merged where they overlap. MediaPipe's
BlazeFace was measured against them on the same real faces and not chosen
(``bench/README.md``).

What it proposes is only a proposal: the doctor confirms, edits or completes it
(:class:`capture.regions.Regions`). Haar cascades miss faces (strong rotation, partial
occlusion, very small faces) and the confirmation step exists because of that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2

from capture.faces_confirm import EYE_CASCADE, WEAK_SHORT, confirmed, rescued
from capture.faces_gate import SEEDED, Pass, Raw, Seed, fine, gate, grouped, seeds
from capture.faces_passes import (
    REPEATS_LIMIT,
    TILTS,
    PassCopy,
    detection_copy,
    evened,
    profile_confirmed,
    profile_copies,
    repeats,
    scaled,
    turned,
)
from capture.loading import LoadedImage
from capture.prepare import DEFAULT_MAX_LONG_EDGE
from capture.regions import FRONTAL, PROFILE, Image, Rect, Region, Regions

T = TypeVar("T")

FRONTAL_CASCADE = "haarcascade_frontalface_alt2.xml"
PROFILE_CASCADE = "haarcascade_profileface.xml"


@dataclass(frozen=True)
class Box:
    """A detection on the detection copy: where, which cascade, whether mirrored, how many
    windows its group holds, how far the copy it was found on was turned, and whether its
    group is short of its pass's neighbours (:data:`capture.faces_confirm.WEAK_SHORT`)."""

    rect: Rect
    origin: str
    mirrored: bool = False
    neighbors: int = 0
    degrees: float = 0.0
    weak: bool = False
    evened: bool = False


_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="passavant-faces")
"""The threads the cascade passes run on, two at a time (OpenCV releases the GIL while it
scans). The executor starts its threads at the first detection, not here."""


def _load(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"OpenCV cascade {path} is missing: the installation is broken")
    return cascade


def merge(rects: list[tuple[Rect, str]], overlap: float = 0.3) -> list[tuple[Rect, str]]:
    """Merges rectangles that overlap by more than ``overlap`` of the smaller one.

    A merged rectangle is the union of its parts; its origin is ``frontal`` if any part
    is. Runs until no pair overlaps (bounded: each pass removes at least one rectangle).
    """
    items = list(rects)
    merged = True
    while merged:
        merged = False
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (a, oa), (b, ob) = items[i], items[j]
                meet = a.intersection(b).area
                if meet > overlap * min(a.area, b.area):
                    origin = FRONTAL if FRONTAL in (oa, ob) else oa
                    items[i] = (a.union(b), origin)
                    del items[j]
                    merged = True
                    break
            if merged:
                break
    return items


class FaceDetector:
    """Haar detection: frontal upright and tilted, profile both sides. One instance per thread.

    The passes (:mod:`capture.faces_passes`): the frontal cascade on the detection copy, on
    that copy turned by each angle of ``tilts`` and on it with its light evened; the profile
    cascade, and its mirrored pass, on a copy reduced to ``profile_edge``, whose boxes are
    checked at two other resolutions.

    Args:
        detect_edge: long side of the detection copy, in pixels. 960 rather than 640: on
            the 100 real faces of ``tests/support/real_faces.py`` at 5 % of a 3000-pixel
            photo's width, the frontal cascade finds 98 of them on a 960 px copy and 60 on
            a 640 px one (``bench/README.md``).
        profile_edge: long side of the profile passes' copy (at most the detection copy).
        tilts: degrees the copy is turned by for the extra frontal passes.
        min_face: smallest face looked for, in pixels of the copy a pass scans.
        tilted_min_face: the same for the turned passes. 36 rather than 28 (faces from
            3.75 % of the long edge instead of 2.9 %, the goal being 5 %): the smallest
            windows are a sixth of a turned pass's work; on the 100 real faces at 5 % and
            8 %, in every variant, the same faces are found (``bench/README.md``).
        scale_factor, min_neighbors: ``detectMultiScale``'s. 3 neighbours rather than 4:
            on the 100 real faces at 5 and 6 % of the long edge (640 px copy) it finds 64
            and 91 of them instead of 50 and 86, for the same false detections.
        tilted_fill: the grey the turned copies' margins are filled with; ``None``, the
            copy's mean (:func:`capture.faces_passes.turned`).
        check_profiles: whether a profile box must be found again at two other resolutions
            (:func:`capture.faces_passes.profile_confirmed`) to be kept.
        drop_repeating: whether a profile box is also dropped when its rows or columns
            repeat at a regular pitch, as a ruler's ticks do
            (:func:`capture.faces_passes.repeats`; only with ``check_profiles``).
        gated: whether the passes scan their other scales only around what their gate
            scales saw (:mod:`capture.faces_gate`): on the 100 real faces in every variant,
            the same faces found, at about two thirds of the passes' CPU on the 24 MP
            benchmark photo, less than half on a wound scene (``bench/README.md``, round 5).
            The preview's lighter detector is not gated.
        tilted_gates: whether the turned passes have gate scales of their own (with
            ``gated``). Without, they scan only around what the other passes' gates saw:
            the same faces found at 15 degrees and 78 ms of CPU less on the 24 MP benchmark
            photo (a ratio of 1.65 instead of 1.88, the goal of 1.5 still missed), but of
            the real faces turned by 20 degrees at 5 %, 73 found instead of 94
            (``bench/README.md``, round 7). Kept on, for the faces turned past the goal.
        confirm_frontal: whether a frontal box must hold many windows, show eyes or shaded
            eyes in the photo given to :meth:`detect` to be kept
            (:mod:`capture.faces_confirm`): on the 104 wound scenes it was chosen on, 14 false
            areas removed, none of the real faces lost (``bench/README.md``, round 5b).
            Not for the preview's lighter detector (its copy and its boxes are smaller).
            With it, the groups a window or two short of their pass's count are proposed
            when the eyes show plainly there (:func:`capture.faces_confirm.rescued`; round 6).
        even_light: whether the frontal cascade also scans the detection copy with its light
            evened (:func:`capture.faces_passes.evened`: a side light across a face hides it
            from the cascade), gated as the turned passes are; its boxes are kept on their
            eyes or their window count, never on a shaded eye band (on an evened copy, dark
            wound areas show structure the cascade takes for a face), and its weak groups
            are not rescued (beside the astronaut's face of
            ``tests/core/test_capture_faces_real.py`` one was: the eye cascade passed 8
            windows on the portrait's background there). ``None``: with ``confirm_frontal``.
            On the 100 real faces lit unevenly at 8 %, 99 → 100 found (and 86 → 89 with dark
            glasses at 8 %), no false area added on 416 wound scenes (``bench/README.md``,
            round 6).
        even_min_face: the smallest face the evened pass looks for, in pixels of the
            detection copy. 44 rather than 28: the pass is for the faces at 8 % that a side
            light hides (77 px there; those at 5 % are found without it), and from 28 it
            costs 40 ms of CPU on the 24 MP benchmark photo instead of 25, for the same
            faces at 8 % (``bench/README.md``, round 6).
        tilted_neighbors, profile_neighbors: the same for the tilted and the profile
            passes. 4 for the tilted ones: on 48 wound scenes without a face (3000 × 2000,
            half of them turned a quarter), with 3 they proposed a false area on 3, with 4
            on 1; the real faces turned by 15 degrees found go from 96 to 95 at 5 %. The
            profile passes keep 3: with 5 their false areas go from 10 of the 48 scenes to
            3, but they no longer find one of the real faces at 8 % that only they find
            (``bench/README.md``).
        padding: each box grows by this fraction of its size on every side.
    """

    def __init__(
        self,
        *,
        detect_edge: int = 960,
        profile_edge: int = 640,
        tilts: Sequence[float] = TILTS,
        min_face: int = 28,
        tilted_min_face: int = 36,
        tilted_fill: int | None = None,
        check_profiles: bool = True,
        drop_repeating: bool = True,
        gated: bool = True,
        tilted_gates: bool = True,
        confirm_frontal: bool = True,
        even_light: bool | None = None,
        even_min_face: int = 44,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        tilted_neighbors: int = 4,
        profile_neighbors: int = 3,
        padding: float = 0.25,
    ) -> None:
        self.detect_edge = detect_edge
        self.profile_edge = profile_edge
        self.tilts = tuple(tilts)
        self.min_face = min_face
        self.tilted_min_face = max(min_face, tilted_min_face)
        self.tilted_fill = tilted_fill
        self.check_profiles = check_profiles
        self.drop_repeating = drop_repeating
        self.gated = gated
        self.tilted_gates = tilted_gates
        self.confirm_frontal = confirm_frontal
        self.even_light = confirm_frontal if even_light is None else even_light
        self.even_min_face = even_min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.tilted_neighbors = tilted_neighbors
        self.profile_neighbors = profile_neighbors
        self.padding = padding
        # one classifier per pass: the passes run at once
        self._frontal = [_load(FRONTAL_CASCADE) for _ in range(1 + len(self.tilts))]
        self._evened = _load(FRONTAL_CASCADE)
        self._profile = _load(PROFILE_CASCADE)
        self._mirrored = _load(PROFILE_CASCADE)
        self._eyes = _load(EYE_CASCADE)
        self._lock = threading.Lock()

    @classmethod
    def for_preview(cls) -> FaceDetector:
        """Lighter settings for the live preview's overlay (a coarser scale pyramid on a
        smaller copy, no tilted passes, faces from 5 % of the long edge, profile boxes
        unchecked: the check would add a fifth to each analysis). Only a hint: the regions
        the doctor confirms come from the default settings on the kept photo."""
        return cls(
            detect_edge=480,
            profile_edge=480,
            tilts=(),
            min_face=24,
            scale_factor=1.2,
            check_profiles=False,
            gated=False,
            confirm_frontal=False,
        )

    def passes(self, gray: Image) -> list[Pass]:
        """The passes over a prepared grey copy, longest first, with their gates: every third
        scale for the turned and the profile passes, every second for the upright one (the
        faces found by it alone are the most marginal), each at another phase, so that
        between them the gates see every scale (:mod:`capture.faces_gate`)."""
        profile, mirror, back = profile_copies(gray, self.profile_edge)
        gated = self.gated
        found = [
            Pass(
                cascade,
                turned(gray, angle, self.tilted_fill),
                self.tilted_neighbors,
                self.tilted_min_face,
                FRONTAL,
                every=(3 if self.tilted_gates else SEEDED) if gated else 1,
                phase=index % 3 if gated else 0,
            )
            for index, (cascade, angle) in enumerate(
                zip(self._frontal[1:], self.tilts, strict=True)
            )
        ]
        if self.even_light:
            found.append(
                Pass(
                    self._evened,
                    evened(gray),
                    self.min_neighbors,
                    max(self.min_face, self.even_min_face),
                    FRONTAL,
                    every=3 if gated else 1,
                    phase=2 if gated else 0,
                )
            )
        return [
            *found,
            Pass(
                self._frontal[0],
                PassCopy(gray),
                self.min_neighbors,
                self.min_face,
                FRONTAL,
                every=2 if gated else 1,
            ),
            Pass(
                self._profile,
                profile,
                self.profile_neighbors,
                self.min_face,
                PROFILE,
                back,
                every=3 if gated else 1,
                phase=2 if gated else 0,
            ),
            Pass(
                self._mirrored,
                mirror,
                self.profile_neighbors,
                self.min_face,
                PROFILE,
                back,
                every=3 if gated else 1,
                phase=1 if gated else 0,
            ),
        ]

    def boxes(self, gray: Image) -> list[Box]:
        """Raw detections on a prepared grey copy (see
        :func:`capture.faces_passes.detection_copy`), upright, in its coordinates.

        The passes run two at a time on a small shared pool, each with its own classifier:
        OpenCV releases the GIL while it scans, so they share the cores. Gated (the
        default), their gate scales first, then their other scales around what any gate saw.
        """
        passes = self.passes(gray)
        factor = self.scale_factor
        with self._lock:  # a CascadeClassifier is not documented as thread-safe
            raws = _all(_POOL.submit(gate, p, factor, self._scan) for p in passes)
            near = seeds(passes, raws) if any(p.every != 1 for p in passes) else []
            found = _all(
                _POOL.submit(self._finish, gray, p, windows, near)
                for p, windows in zip(passes, raws, strict=True)
            )
        return [box for boxes in found for box in boxes]

    def _finish(self, gray: Image, p: Pass, windows: list[Raw], near: list[Seed]) -> list[Box]:
        """The boxes of pass ``p``: its gate's ``windows`` and those around the seeds ``near``,
        grouped, on the detection copy ``gray``; a profile box only if confirmed there (with
        the pass's own classifier: the passes finish at once). With ``confirm_frontal``, the
        groups a few windows short (:data:`capture.faces_confirm.WEAK_SHORT`) come too,
        marked weak: :meth:`_kept` proposes them only if the eyes show there."""
        windows = windows + fine(p, near, self.scale_factor, self._scan)
        copy = p.copy
        boxes = []
        # the evened copy's weak groups are not rescued: its eye-like structure is not
        # the photo's (a portrait's background passed the eye cascade there)
        short = WEAK_SHORT if self.confirm_frontal and not copy.evened else 0
        for r, neighbors in grouped(windows, p.neighbors - short):
            rect = scaled(copy.to_copy(_rect(r), copy.image.shape[1]), p.factor)
            weak = neighbors <= p.neighbors
            if (
                p.origin == PROFILE
                and self.check_profiles
                and not weak  # a weak one is judged by its eyes alone
                and (
                    (self.drop_repeating and repeats(gray, rect) > REPEATS_LIMIT)
                    or not profile_confirmed(p.cascade, gray, rect, mirrored=copy.mirrored)
                )
            ):
                continue
            boxes.append(
                Box(rect, p.origin, copy.mirrored, neighbors, copy.degrees, weak, copy.evened)
            )
        return boxes

    def _scan(
        self,
        cascade: cv2.CascadeClassifier,
        gray: Image,
        scale_factor: float,
        least: int,
        most: int,
    ) -> list[Raw]:
        """Every scan of every pass: the windows of sides ``least`` to ``most`` that pass the
        cascade, ungrouped (:func:`capture.faces_gate.grouped` groups them)."""
        found = cascade.detectMultiScale(
            gray,
            scaleFactor=scale_factor,
            minNeighbors=0,
            minSize=(least, least),
            maxSize=(most, most),
        )
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]

    def _kept(self, box: Box, image: Image, scale: float, order: str) -> bool:
        """Whether ``box`` (found on the detection copy of ``image``, at ``scale``) is kept,
        when ``confirm_frontal``: a weak box only if :func:`capture.faces_confirm.rescued`
        (a profile one looked at upright and at the tilts: a face the profile cascade half
        saw is often a frontal one, turned), a frontal box only if
        :func:`capture.faces_confirm.confirmed` on ``image``."""
        if not self.confirm_frontal or (box.origin != FRONTAL and not box.weak):
            return True
        r = box.rect
        where = Rect(
            round(r.x / scale), round(r.y / scale), round(r.width / scale), round(r.height / scale)
        )
        angles = (box.degrees,) if box.origin == FRONTAL else (0.0, *self.tilts)
        with self._lock:
            if box.weak:
                return rescued(self._eyes, image, where, angles, order=order)
            return confirmed(
                self._eyes,
                image,
                where,
                box.degrees,
                neighbors=box.neighbors,
                order=order,
                shade=not box.evened,
            )

    def detect(self, image: Image, *, order: str = "bgr") -> list[Region]:
        """Proposed regions for every face found, in ``image`` coordinates."""
        height, width = image.shape[:2]
        gray, scale = detection_copy(image, self.detect_edge, order=order)
        scaled: list[tuple[Rect, str]] = []
        for box in self.boxes(gray):
            r = box.rect
            if not self._kept(box, image, scale, order):
                continue
            grow_x, grow_y = r.width * self.padding, r.height * self.padding
            rect = Rect(
                int((r.x - grow_x) / scale),
                int((r.y - grow_y) / scale),
                round((r.width + 2 * grow_x) / scale),
                round((r.height + 2 * grow_y) / scale),
            ).clipped(width, height)
            if rect.area:
                scaled.append((rect, box.origin))
        return [Region(rect, origin) for rect, origin in merge(scaled)]


def _rect(found: Sequence[int]) -> Rect:
    x, y, w, h = found
    return Rect(int(x), int(y), int(w), int(h))


def _all(pending: Iterable[Future[list[T]]]) -> list[list[T]]:
    """The results of ``pending``, in order, once all are done."""
    futures = list(pending)
    wait(futures)
    return [future.result() for future in futures]


_local = threading.local()


def default_detector() -> FaceDetector:
    """This thread's detector with the default settings (cascades load once per thread)."""
    detector: FaceDetector | None = getattr(_local, "detector", None)
    if detector is None:
        detector = FaceDetector()
        _local.detector = detector
    return detector


def detect_faces(image: Image, *, order: str = "bgr") -> list[Region]:
    """Proposed face regions of ``image`` (a BGR frame by default), in its coordinates."""
    return default_detector().detect(image, order=order)


def propose_regions(
    image: LoadedImage,
    *,
    detector: FaceDetector | None = None,
    working_edge: int = DEFAULT_MAX_LONG_EDGE,
) -> Regions:
    """The unconfirmed :class:`Regions` of ``image``, holding one region per face found.

    Detection runs on ``image.pixels(working_edge)``, the copy :func:`capture.prepare.prepare`
    uses with the same cap (cached, so it is made once); the regions are scaled back to
    upright full-resolution coordinates. (Detecting on a smaller copy made straight from the
    decoded pixels saves the wait for that copy, but changes which marginal faces are found:
    measured, and not done.)
    """
    pixels = image.pixels(working_edge)
    found = (detector or default_detector()).detect(pixels, order="rgb")
    return scaled_up(found, pixels.shape, image.size)


def scaled_up(found: list[Region], shape: tuple[int, ...], size: tuple[int, int]) -> Regions:
    """Unconfirmed :class:`Regions` of ``size`` (width, height) from regions found on a copy
    of ``shape`` (height, width…) of the same upright image."""
    width, height = size
    sx, sy = width / shape[1], height / shape[0]
    proposed = []
    for region in found:
        r = region.bounds()
        rect = Rect(int(r.x * sx), int(r.y * sy), round(r.width * sx), round(r.height * sy))
        proposed.append(Region(rect.clipped(width, height), region.origin, region.id))
    return Regions(size, proposed)
