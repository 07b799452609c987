"""Calibrated wound measurement: an ArUco marker of known size gives the photo a scale.

The doctor lays a printed 20 mm marker (``resources/markers/``) flat on the skin next to the
wound. :func:`find_marker` detects it (``cv2.aruco.ArucoDetector``, sub-pixel corners, then
a straight-line fit of each side, see :func:`refine_corners`) and computes the homography
from image pixels to the marker's plane in millimetres. A
plane-to-plane homography undoes the perspective of a tilted camera, so lengths and areas
measured anywhere *on that plane* stay right; what it cannot undo is relief (a wound on a
curved limb is measured as its projection on the marker's plane).

Without a marker, measurements are in pixels, flagged ``calibrated=False`` with the reason
code ``no_marker``. Everything here works on arrays and bytes in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from capture.loading import decode_upright

MARKER_MM = 20.0
DICTIONARY = cv2.aruco.DICT_4X4_50
MARKER_IDS: frozenset[int] = frozenset(range(4))  # the ids printed on our marker sheet
NO_MARKER = "no_marker"
RULER = "ruler"
"""The ``reason`` of a measurement calibrated by hand on a printed ruler (no marker)."""
RULER_ID = -1
"""The ``marker_id`` of a calibration set by hand on a ruler (:func:`ruler_calibration`)."""
MAX_PIXELS = 60_000_000

Point = tuple[float, float]
Kind = Literal["line", "polygon"]
Unit = Literal["mm", "px"]


class MeasureError(Exception):
    """A measurement could not be made. ``code`` is stable; the message is English, for logs.

    Codes: ``not_an_image`` (undecodable input), ``bad_points`` (not enough or non-finite
    points, a flat outline), ``outside_plane`` (a point beyond the marker plane's horizon).
    """

    code = "measure_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Calibration:
    """A marker found in a photo, and the homography from image pixels to its plane (mm).

    Attributes:
        homography: 3x3 matrix as nested tuples; maps image (x, y, 1) to plane mm.
        marker_id: the ArUco id that was found.
        marker_mm: the marker's printed side.
        corners_px: the marker's corners in the image, clockwise from its top-left.
    """

    homography: tuple[tuple[float, float, float], ...]
    marker_id: int
    marker_mm: float
    corners_px: tuple[Point, ...]

    @property
    def matrix(self) -> NDArray[np.float64]:
        return np.array(self.homography, dtype=np.float64)

    def to_plane(self, points: Iterable[Point]) -> NDArray[np.float64]:
        """Map image points (px) onto the marker's plane (mm)."""
        pts = _as_points(points)
        h = self.matrix
        w = pts @ h[2, :2] + h[2, 2]
        if np.any(w * self._w_sign() <= 1e-12):
            raise MeasureError("outside_plane", "a point lies beyond the marker plane's horizon")
        mapped = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), h)
        return np.asarray(mapped.reshape(-1, 2), dtype=np.float64)

    def _w_sign(self) -> float:
        x, y = self.centre_px
        h = self.matrix
        return 1.0 if float(h[2, 0] * x + h[2, 1] * y + h[2, 2]) > 0 else -1.0

    @property
    def marker_side_px(self) -> float:
        """Mean side of the marker in the image (px): how much resolution the scale has."""
        c = np.array(self.corners_px)
        return float(np.mean(np.linalg.norm(c - np.roll(c, -1, axis=0), axis=1)))

    def jacobian_at(self, x: float, y: float) -> NDArray[np.float64] | None:
        """d(plane mm)/d(image px) at image point (x, y): a 2x2 matrix whose columns are the
        millimetre steps of one pixel along x and along y; ``None`` past the horizon."""
        h = self.matrix
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        if w * self._w_sign() <= 1e-12:
            return None
        u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
        v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
        return np.array(
            [
                [(h[0, 0] - u * h[2, 0]) / w, (h[0, 1] - u * h[2, 1]) / w],
                [(h[1, 0] - v * h[2, 0]) / w, (h[1, 1] - v * h[2, 1]) / w],
            ]
        )

    def scale_at(self, x: float, y: float) -> float | None:
        """Mean mm per pixel at (x, y): the square root of the local area ratio."""
        jacobian = self.jacobian_at(x, y)
        return None if jacobian is None else math.sqrt(abs(float(np.linalg.det(jacobian))))

    @property
    def centre_px(self) -> Point:
        x, y = np.mean(np.array(self.corners_px), axis=0)
        return float(x), float(y)

    def spacing_at_marker(self) -> tuple[float, float]:
        """(row spacing, column spacing) in mm per pixel at the marker's centre.

        For a fronto-parallel photo they are equal and hold everywhere; for a tilted one
        they hold only near the marker, in its plane (the DICOM export says so).
        """
        jacobian = self.jacobian_at(*self.centre_px)
        if jacobian is None:  # cannot happen: the marker is in front of the camera
            raise ValueError("degenerate calibration")
        column = float(np.linalg.norm(jacobian[:, 0]))
        row = float(np.linalg.norm(jacobian[:, 1]))
        return row, column

    def to_dict(self) -> dict[str, Any]:
        return {
            "homography": [list(r) for r in self.homography],
            "marker_id": self.marker_id,
            "marker_mm": self.marker_mm,
            "corners_px": [list(p) for p in self.corners_px],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        matrix = np.array(data["homography"], dtype=np.float64)
        if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
            raise ValueError("homography must be a finite 3x3 matrix")
        return cls(
            homography=_rows(matrix),
            marker_id=int(data["marker_id"]),
            marker_mm=float(data["marker_mm"]),
            corners_px=tuple((float(x), float(y)) for x, y in data["corners_px"]),
        )


@dataclass(frozen=True)
class Measurement:
    """A line or an outline drawn on a photo, and what it measures.

    ``length`` is the line's length, or the outline's greatest length (the largest distance
    between two of its points); ``perimeter`` and ``area`` exist for outlines only. Units:
    mm and cm² when ``calibrated``, else px and px² with ``reason`` saying why.
    JSON-serialisable with :meth:`to_dict` / :meth:`from_dict`, to be stored with a photo.
    """

    kind: Kind
    points: tuple[Point, ...]
    calibrated: bool
    unit: Unit
    length: float
    perimeter: float | None = None
    area: float | None = None
    reason: str | None = None
    marker_mm: float | None = None

    @property
    def length_mm(self) -> float | None:
        return self.length if self.calibrated else None

    @property
    def perimeter_mm(self) -> float | None:
        return self.perimeter if self.calibrated else None

    @property
    def area_cm2(self) -> float | None:
        return self.area if self.calibrated else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "points": [[x, y] for x, y in self.points],
            "calibrated": self.calibrated,
            "unit": self.unit,
            "length": self.length,
            "perimeter": self.perimeter,
            "area": self.area,
            "reason": self.reason,
            "marker_mm": self.marker_mm,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        kind, unit = data["kind"], data["unit"]
        if kind not in ("line", "polygon") or unit not in ("mm", "px"):
            raise ValueError(f"unknown measurement kind/unit {kind!r}/{unit!r}")
        if bool(data["calibrated"]) != (unit == "mm"):
            raise ValueError("a calibrated measurement is in mm, an uncalibrated one in px")

        def optional(name: str) -> float | None:
            value = data.get(name)
            return None if value is None else float(value)

        return cls(
            kind=kind,
            points=tuple((float(x), float(y)) for x, y in data["points"]),
            calibrated=bool(data["calibrated"]),
            unit=unit,
            length=float(data["length"]),
            perimeter=optional("perimeter"),
            area=optional("area"),
            reason=data.get("reason"),
            marker_mm=optional("marker_mm"),
        )


def find_marker(
    image_bgr: NDArray[np.uint8],
    *,
    marker_mm: float = MARKER_MM,
    dictionary: int = DICTIONARY,
    ids: Iterable[int] | None = MARKER_IDS,
) -> Calibration | None:
    """Find the marker in a photo and return its calibration, or ``None`` (``no_marker``).

    Only a whole marker of ``dictionary`` with an id in ``ids`` (``None``: any id) counts;
    a partly hidden marker is not detected at all. When several are found, the largest in
    the image is used (the most pixels per millimetre).
    """
    if marker_mm <= 0 or not math.isfinite(marker_mm):
        raise ValueError("marker_mm must be a positive number")
    gray = np.asarray(
        image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY),
        dtype=np.uint8,
    )
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.cornerRefinementMaxIterations = 100
    params.cornerRefinementMinAccuracy = 0.01
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(dictionary), params)
    corners, found_ids, _rejected = detector.detectMarkers(gray)
    if found_ids is None:
        return None
    allowed = None if ids is None else set(ids)
    candidates = [
        (int(marker_id), np.asarray(quad, dtype=np.float64).reshape(4, 2))
        for quad, marker_id in zip(corners, found_ids.ravel(), strict=True)
        if allowed is None or int(marker_id) in allowed
    ]
    if not candidates:
        return None
    marker_id, quad = max(candidates, key=lambda c: abs(_shoelace(c[1])))
    cells = int(cv2.aruco.getPredefinedDictionary(dictionary).markerSize) + 2
    quad = refine_corners(gray, quad, cells)
    square = np.array(
        [[0.0, 0.0], [marker_mm, 0.0], [marker_mm, marker_mm], [0.0, marker_mm]],
        dtype=np.float64,
    )
    h = cv2.getPerspectiveTransform(quad.astype(np.float32), square.astype(np.float32))
    h = np.asarray(h, dtype=np.float64) / h[2, 2]
    return Calibration(
        homography=_rows(h),
        marker_id=marker_id,
        marker_mm=float(marker_mm),
        corners_px=tuple((float(x), float(y)) for x, y in quad),
    )


def refine_corners(
    gray: NDArray[np.uint8], quad: NDArray[np.float64], cells: int
) -> NDArray[np.float64]:
    """Sharpen the marker's corners by fitting a straight line to each of its sides.

    Corner detectors are biased on the blurred outer corner of a black square; a side, by
    contrast, offers a hundred edge points. Along each side (away from the corners), the
    intensity profile across the edge is sampled and its steepest point located to a
    fraction of a pixel; a line is fitted to those points and adjacent lines intersect in
    the refined corners. Perspective keeps lines straight, so this holds for tilted photos.
    Falls back to ``quad`` when the sides cannot be fitted or the result strays.
    """
    image = gray.astype(np.float32)
    side = float(np.mean(np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)))
    reach = float(np.clip(0.3 * side / cells, 1.5, 6.0))  # stay inside the border cell
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        line = _fit_side(image, a, b, reach)
        if line is None:
            return quad
        lines.append(line)
    refined = np.array([_intersect(lines[i - 1], lines[i]) for i in range(4)])
    if not np.all(np.isfinite(refined)):
        return quad
    if float(np.max(np.linalg.norm(refined - quad, axis=1))) > max(2.0, reach):
        return quad
    return refined


def _fit_side(
    image: NDArray[np.float32], a: NDArray[np.float64], b: NDArray[np.float64], reach: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """A (point, unit direction) line through the edge points of the side a-b."""
    length = float(np.linalg.norm(b - a))
    if length < 8:
        return None
    direction = (b - a) / length
    normal = np.array([-direction[1], direction[0]])
    count = max(8, int(length * 0.8))
    t = np.linspace(0.12, 0.88, count)
    offsets = np.arange(-reach, reach + 1e-9, 0.25)
    base = a[None, :] + t[:, None] * (b - a)[None, :]
    samples = base[:, None, :] + offsets[None, :, None] * normal[None, None, :]
    map_x = samples[..., 0].astype(np.float32)
    map_y = samples[..., 1].astype(np.float32)
    profile = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gradient = np.diff(profile.astype(np.float64), axis=1)
    step = gradient.sum(axis=1)  # black-to-white contrast across the edge, signed
    gradient *= np.sign(step)[:, None]
    strong = np.abs(step) > 0.5 * np.median(np.abs(step))
    # the edge is the centroid of the gradient: exact for any symmetric blur, and free of
    # the pixel-grid quantisation that a gradient peak on interpolated samples suffers
    middles = offsets[:-1] + 0.125
    position = (gradient @ middles) / np.where(strong, np.abs(step), 1.0)
    points = (base + position[:, None] * normal[None, :])[strong]
    for _round in range(2):
        if len(points) < 6:
            return None
        centre = points.mean(axis=0)
        _u, _s, vt = np.linalg.svd(points - centre)
        along = vt[0]
        distance = (points - centre) @ np.array([-along[1], along[0]])
        spread = 1.4826 * float(np.median(np.abs(distance))) + 0.05
        points = points[np.abs(distance) <= 3 * spread]
    if len(points) < 6:
        return None
    centre = points.mean(axis=0)
    _u, _s, vt = np.linalg.svd(points - centre)
    return centre, vt[0]


def _intersect(
    first: tuple[NDArray[np.float64], NDArray[np.float64]],
    second: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> NDArray[np.float64]:
    (p, d), (q, e) = first, second
    matrix = np.column_stack([d, -e])
    if abs(float(np.linalg.det(matrix))) < 1e-6:
        return np.array([np.nan, np.nan])
    s, _t = np.linalg.solve(matrix, q - p)
    return np.asarray(p + s * d, dtype=np.float64)


def measure_line(cal: Calibration | None, p1: Point, p2: Point) -> float:
    """Length of the segment p1-p2: mm on the marker's plane, or px without calibration."""
    pts = _plane(cal, [p1, p2])
    return float(np.linalg.norm(pts[1] - pts[0]))


def measure_polygon(cal: Calibration | None, points: Sequence[Point]) -> tuple[float, float, float]:
    """(area, perimeter, greatest length) of a closed outline.

    Calibrated: cm², mm, mm on the marker's plane (shoelace formula, Euclidean distances).
    Without calibration: px², px, px. The greatest length is the largest distance between
    two outline points (the wound's length); the outline must not cross itself.
    """
    pts = _plane(cal, points)
    if len(pts) < 3:
        raise MeasureError("bad_points", "an outline needs at least 3 points")
    area = abs(_shoelace(pts))
    perimeter = float(np.sum(np.linalg.norm(pts - np.roll(pts, -1, axis=0), axis=1)))
    if area <= 1e-9 * max(perimeter, 1.0) ** 2:
        raise MeasureError("bad_points", "the outline encloses no area")
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    diffs = hull[:, None, :] - hull[None, :, :]
    longest = float(np.sqrt(np.max(np.sum(diffs * diffs, axis=2))))
    if cal is not None:
        area /= 100.0  # mm² -> cm²
    return area, perimeter, longest


def line_measurement(cal: Calibration | None, p1: Point, p2: Point) -> Measurement:
    """A :class:`Measurement` of the segment p1-p2 (see :func:`measure_line`)."""
    return Measurement(
        kind="line",
        points=(_point(p1), _point(p2)),
        length=measure_line(cal, p1, p2),
        **_calibration_fields(cal),
    )


def polygon_measurement(cal: Calibration | None, points: Sequence[Point]) -> Measurement:
    """A :class:`Measurement` of a closed outline (see :func:`measure_polygon`)."""
    area, perimeter, longest = measure_polygon(cal, points)
    return Measurement(
        kind="polygon",
        points=tuple(_point(p) for p in points),
        length=longest,
        perimeter=perimeter,
        area=area,
        **_calibration_fields(cal),
    )


def decode_image(data: bytes) -> NDArray[np.uint8]:
    """Decode an encoded photo into a BGR array, turned upright by its EXIF orientation.

    Coordinates given for a photo are those of the upright image, as viewers show it.

    Raises:
        MeasureError: ``not_an_image`` for empty, corrupt or unknown data.
    """
    upright, _icc = decode_upright(
        data, max_pixels=MAX_PIXELS, error=lambda detail: MeasureError("not_an_image", detail)
    )
    return np.ascontiguousarray(np.asarray(upright.convert("RGB"))[:, :, ::-1])


def _rows(matrix: NDArray[np.float64]) -> tuple[tuple[float, float, float], ...]:
    return tuple((float(r[0]), float(r[1]), float(r[2])) for r in matrix)


def _calibration_fields(cal: Calibration | None) -> dict[str, Any]:
    if cal is None:
        return {"calibrated": False, "unit": "px", "reason": NO_MARKER}
    by_hand = RULER if cal.marker_id == RULER_ID else None
    return {"calibrated": True, "unit": "mm", "marker_mm": cal.marker_mm, "reason": by_hand}


def ruler_calibration(p1: Point, p2: Point, known_mm: float) -> Calibration:
    """A calibration set by hand: the doctor marked ``p1`` and ``p2`` on a printed ruler
    lying in the photo, ``known_mm`` apart.

    Unlike a marker's, it is a uniform scale (no perspective correction: the ruler gives
    one direction only), right for a photo taken square to the skin. Measurements made
    with it carry the reason :data:`RULER` and ``marker_mm`` = ``known_mm``, so every
    reader can tell they were calibrated by hand.

    Raises:
        MeasureError: ``bad_points`` when the points are not finite, less than 4 pixels
            apart, or ``known_mm`` is not a positive length.
    """
    pts = _as_points([p1, p2])
    distance = float(np.linalg.norm(pts[1] - pts[0]))
    if not (math.isfinite(known_mm) and known_mm > 0) or distance < 4.0:
        raise MeasureError("bad_points", "a ruler calibration needs two distinct points")
    s = known_mm / distance
    return Calibration(
        homography=((s, 0.0, 0.0), (0.0, s, 0.0), (0.0, 0.0, 1.0)),
        marker_id=RULER_ID,
        marker_mm=float(known_mm),
        corners_px=(_point(p1), _point(p2)),
    )


def _plane(cal: Calibration | None, points: Iterable[Point]) -> NDArray[np.float64]:
    return _as_points(points) if cal is None else cal.to_plane(points)


def _as_points(points: Iterable[Point]) -> NDArray[np.float64]:
    try:
        pts = np.array([_point(p) for p in points], dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError) as exc:
        raise MeasureError("bad_points", f"points must be (x, y) pairs: {exc}") from exc
    if not np.all(np.isfinite(pts)):
        raise MeasureError("bad_points", "points must be finite numbers")
    return pts


def _point(p: Point) -> Point:
    x, y = p
    return float(x), float(y)


def _shoelace(pts: NDArray[np.float64]) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0
