"""Synthetic photos of known geometry for the measurement tests.

A flat plane in millimetres carries a skin-like texture, a 20 mm ArUco marker on a white
sticker, an elliptical "wound" and a straight 50 mm mark. A pinhole camera, tilted around x
and y and rolled around its axis, looks at it: the plane-to-image homography is computed from
the rotation, translation and intrinsics, and the plane raster is warped with
``cv2.warpPerspective`` at a supersampled size, then averaged down (antialiasing). Because the
homography is known exactly, so are the image coordinates of every shape point: the tests
measure those ground-truth points through the calibration found in the image and compare
with the true millimetres.

Conventions: plane coordinates in mm, x right, y down, origin at the plane's top-left
corner. Image coordinates follow OpenCV (the centre of pixel (i, j) is at (i, j)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]

PLANE_MM = (160.0, 120.0)  # width, height of the textured plane
RASTER_PX_PER_MM = 10.0
IMAGE_SIZE = (1600, 1200)  # width, height of the photo
SUPERSAMPLE = 3
FOCAL_PX = 1500.0
DISTANCE_MM = 260.0
STICKER_MARGIN_MM = 3.0

# the default layout: marker on the left, wound in the middle, a 50 mm mark below it
MARKER_CENTRE_MM = (30.0, 60.0)
WOUND_CENTRE_MM = (95.0, 55.0)
WOUND_AXES_MM = (40.0, 25.0)  # full length, full width
LINE_MM = ((70.0, 95.0), (120.0, 95.0))  # 50 mm long


@dataclass(frozen=True)
class Scene:
    """A rendered photo and the truth about it."""

    image: NDArray[np.uint8]  # BGR
    plane_to_image: Matrix  # 3x3 homography, plane mm -> image px
    wound_mm: NDArray[np.float64]  # outline points on the plane (N x 2)
    line_mm: NDArray[np.float64]  # the two ends of the 50 mm mark (2 x 2)
    marker_corners_mm: NDArray[np.float64] = field(repr=False)

    def to_image(self, points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """Project plane points (mm) into the photo (px)."""
        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.plane_to_image).reshape(-1, 2)

    @property
    def wound_px(self) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in self.to_image(self.wound_mm)]

    @property
    def line_px(self) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in self.to_image(self.line_mm)]


def ellipse_outline(
    centre: tuple[float, float], axes: tuple[float, float], count: int = 72
) -> NDArray[np.float64]:
    """``count`` points on an axis-aligned ellipse of full ``axes`` (mm)."""
    t = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.stack(
        [centre[0] + axes[0] / 2 * np.cos(t), centre[1] + axes[1] / 2 * np.sin(t)], axis=1
    )


def polygon_area(points: NDArray[np.float64]) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def rotation(tilt_x_deg: float, tilt_y_deg: float, roll_deg: float) -> Matrix:
    """Camera rotation: roll about the optical axis, then tilts about x and y."""
    ax, ay, az = (math.radians(a) for a in (tilt_x_deg, tilt_y_deg, roll_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rx @ ry @ rz


def plane_to_image_homography(
    *,
    tilt_x_deg: float,
    tilt_y_deg: float,
    roll_deg: float,
    look_at_mm: tuple[float, float],
    image_size: tuple[int, int] = IMAGE_SIZE,
    focal_px: float = FOCAL_PX,
    distance_mm: float = DISTANCE_MM,
) -> Matrix:
    """H = K [r1 r2 t] for a camera at ``distance_mm`` looking at ``look_at_mm`` on z = 0."""
    k = np.array(
        [
            [focal_px, 0.0, (image_size[0] - 1) / 2],
            [0.0, focal_px, (image_size[1] - 1) / 2],
            [0.0, 0.0, 1.0],
        ]
    )
    r = rotation(tilt_x_deg, tilt_y_deg, roll_deg)
    centre = np.array([look_at_mm[0], look_at_mm[1], 0.0])
    t = np.array([0.0, 0.0, distance_mm]) - r @ centre
    h = k @ np.column_stack([r[:, 0], r[:, 1], t])
    return np.asarray(h / h[2, 2], dtype=np.float64)


def skin_texture(width: int, height: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    """A skin-like BGR background: a warm tone, blotches, pores and fine noise."""
    base = np.array([150.0, 175.0, 222.0], np.float32)  # BGR
    coarse = rng.normal(0.0, 1.0, (max(2, height // 80), max(2, width // 80), 3))
    blotches = cv2.resize(coarse.astype(np.float32), (width, height), cv2.INTER_CUBIC) * 9.0
    fine = rng.standard_normal((height, width, 1), dtype=np.float32) * 5.0
    texture = base + blotches + fine
    pores = rng.random((height, width), dtype=np.float32) < 0.002
    texture[pores] -= 35.0
    return np.clip(texture, 0, 255).astype(np.uint8)


def aruco_marker(marker_id: int, side_px: int, dictionary: int) -> NDArray[np.uint8]:
    """The marker bitmap (black border included) of ``side_px``, a multiple of its cells."""
    table = cv2.aruco.getPredefinedDictionary(dictionary)
    return np.asarray(cv2.aruco.generateImageMarker(table, marker_id, side_px), dtype=np.uint8)


def render_plane(
    *,
    marker: bool = True,
    marker_id: int = 0,
    marker_mm: float = 20.0,
    marker_angle_deg: float = 0.0,
    dictionary: int = cv2.aruco.DICT_4X4_50,
    hide_fraction: float = 0.0,
    seed: int = 7,
) -> tuple[NDArray[np.uint8], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The plane raster (BGR, ``RASTER_PX_PER_MM``), the wound, the line, the marker corners.

    ``hide_fraction`` covers that fraction of the marker's width with a skin-coloured strip
    (a finger or a dressing over it).
    """
    ppm = RASTER_PX_PER_MM
    width, height = round(PLANE_MM[0] * ppm), round(PLANE_MM[1] * ppm)
    rng = np.random.default_rng(seed)
    raster = skin_texture(width, height, rng)

    wound = ellipse_outline(WOUND_CENTRE_MM, WOUND_AXES_MM)
    centre_px = _fixed(WOUND_CENTRE_MM)
    axes_px = (round(WOUND_AXES_MM[0] / 2 * ppm * 16), round(WOUND_AXES_MM[1] / 2 * ppm * 16))
    cv2.ellipse(raster, centre_px, axes_px, 0, 0, 360, (60, 50, 150), -1, cv2.LINE_AA, 4)
    cv2.ellipse(raster, centre_px, axes_px, 0, 0, 360, (40, 40, 110), 12, cv2.LINE_AA, 4)
    line = np.array(LINE_MM, dtype=np.float64)
    ends = [_fixed((x, y)) for x, y in line]
    cv2.line(raster, ends[0], ends[1], (90, 70, 60), 6, cv2.LINE_AA, 4)

    corners = _marker_corners(marker_mm, marker_angle_deg)
    if marker:
        _paste_marker(raster, marker_id, marker_mm, marker_angle_deg, dictionary, rng)
        if hide_fraction > 0:
            _hide_part(raster, corners, hide_fraction, rng)
    return raster, wound, line, corners


def _fixed(point_mm: tuple[float, float]) -> tuple[int, int]:
    """Plane mm -> raster coordinates in OpenCV's 4-bit fixed point (``shift=4``)."""
    ppm = RASTER_PX_PER_MM
    return round((point_mm[0] * ppm - 0.5) * 16), round((point_mm[1] * ppm - 0.5) * 16)


def _marker_corners(marker_mm: float, angle_deg: float) -> NDArray[np.float64]:
    half = marker_mm / 2
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.asarray(square @ rot.T + np.array(MARKER_CENTRE_MM), dtype=np.float64)


def _paste_marker(
    raster: NDArray[np.uint8],
    marker_id: int,
    marker_mm: float,
    angle_deg: float,
    dictionary: int,
    rng: np.random.Generator,
) -> None:
    """Warp a white sticker with the marker onto the raster at its place and angle."""
    ppm = RASTER_PX_PER_MM
    cells = _cells(dictionary)
    cell_px = 40
    side = cells * cell_px
    margin = round(STICKER_MARGIN_MM / marker_mm * side)
    sticker = np.full((side + 2 * margin, side + 2 * margin), 250, np.uint8)
    sticker[margin : margin + side, margin : margin + side] = aruco_marker(
        marker_id, side, dictionary
    )
    sticker_bgr = cv2.cvtColor(sticker, cv2.COLOR_GRAY2BGR)
    # sticker pixel centre u sits at mm  (u + 0.5 - margin) * marker_mm / side  from the
    # marker's top-left corner; raster pixel centre v is at mm (v + 0.5) / ppm
    s = marker_mm / side
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    half = marker_mm / 2
    sticker_to_marker = np.array(
        [[s, 0, (0.5 - margin) * s - half], [0, s, (0.5 - margin) * s - half], [0, 0, 1]]
    )
    marker_to_plane = np.eye(3)
    marker_to_plane[:2, :2] = rot
    marker_to_plane[:2, 2] = MARKER_CENTRE_MM
    plane_to_raster = np.array([[ppm, 0, -0.5], [0, ppm, -0.5], [0, 0, 1]])
    m = plane_to_raster @ marker_to_plane @ sticker_to_marker
    # work in the sticker's bounding box only
    h, w = sticker.shape
    outline = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    box = cv2.perspectiveTransform(outline.reshape(-1, 1, 2), m).reshape(-1, 2)
    x0, y0 = np.floor(box.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(box.max(axis=0)).astype(int) + 3
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, raster.shape[1]), min(y1, raster.shape[0])
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(sticker_bgr, shift @ m, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full(sticker.shape, 255, np.uint8), shift @ m, size)
    alpha = mask.astype(np.float32)[..., None] / 255.0
    shade = rng.normal(0.0, 2.0, warped.shape).astype(np.float32)  # sensor-like noise
    window = raster[y0:y1, x0:x1].astype(np.float32)
    blended = window * (1 - alpha) + np.clip(warped + shade, 0, 255) * alpha
    raster[y0:y1, x0:x1] = np.clip(blended, 0, 255).astype(np.uint8)


def _hide_part(
    raster: NDArray[np.uint8],
    corners: NDArray[np.float64],
    fraction: float,
    rng: np.random.Generator,
) -> None:
    """Cover the marker's right-hand ``fraction`` (and beyond) with a skin-coloured strip."""
    ppm = RASTER_PX_PER_MM
    x0, x1 = corners[:, 0].min(), corners[:, 0].max()
    y0, y1 = corners[:, 1].min(), corners[:, 1].max()
    left = x1 - (x1 - x0) * fraction
    box = (
        round(left * ppm),
        round((y0 - 2 * STICKER_MARGIN_MM) * ppm),
        round((x1 + 2 * STICKER_MARGIN_MM) * ppm),
        round((y1 + 2 * STICKER_MARGIN_MM) * ppm),
    )
    patch = skin_texture(box[2] - box[0], box[3] - box[1], rng)
    raster[box[1] : box[3], box[0] : box[2]] = patch


def _cells(dictionary: int) -> int:
    """Cells across a marker of ``dictionary``: its bits plus a one-cell black border."""
    table = cv2.aruco.getPredefinedDictionary(dictionary)
    return int(table.markerSize) + 2


def render(
    *,
    tilt_x_deg: float = 0.0,
    tilt_y_deg: float = 0.0,
    roll_deg: float = 0.0,
    marker: bool = True,
    marker_angle_deg: float = 0.0,
    marker_mm: float = 20.0,
    dictionary: int = cv2.aruco.DICT_4X4_50,
    marker_id: int = 0,
    hide_fraction: float = 0.0,
    seed: int = 7,
) -> Scene:
    """Render the plane seen by the tilted camera, with antialiasing by supersampling."""
    raster, wound, line, corners = render_plane(
        marker=marker,
        marker_id=marker_id,
        marker_mm=marker_mm,
        marker_angle_deg=marker_angle_deg,
        dictionary=dictionary,
        hide_fraction=hide_fraction,
        seed=seed,
    )
    look_at = (PLANE_MM[0] / 2, PLANE_MM[1] / 2)
    ss = SUPERSAMPLE
    big_size = (IMAGE_SIZE[0] * ss, IMAGE_SIZE[1] * ss)
    h_big = plane_to_image_homography(
        tilt_x_deg=tilt_x_deg,
        tilt_y_deg=tilt_y_deg,
        roll_deg=roll_deg,
        look_at_mm=look_at,
        image_size=big_size,
        focal_px=FOCAL_PX * ss,
    )
    ppm = RASTER_PX_PER_MM
    raster_to_plane = np.array([[1 / ppm, 0, 0.5 / ppm], [0, 1 / ppm, 0.5 / ppm], [0, 0, 1]])
    big = cv2.warpPerspective(
        raster,
        h_big @ raster_to_plane,
        big_size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(70, 80, 90),
    )
    image = cv2.resize(big, IMAGE_SIZE, interpolation=cv2.INTER_AREA)
    # big pixel centre U lands at small coordinate (U + 0.5) / ss - 0.5
    big_to_small = np.array([[1 / ss, 0, 0.5 / ss - 0.5], [0, 1 / ss, 0.5 / ss - 0.5], [0, 0, 1]])
    plane_to_image = big_to_small @ h_big
    return Scene(
        image=np.ascontiguousarray(image),
        plane_to_image=plane_to_image / plane_to_image[2, 2],
        wound_mm=wound,
        line_mm=line,
        marker_corners_mm=corners,
    )
