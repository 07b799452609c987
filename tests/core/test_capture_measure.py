"""Calibrated measurement on synthetic photos of known geometry, and the printable marker sheet.

The scenes (``tests/support/aruco_scenes.py``) put a 20 mm ArUco marker, a 40 x 25 mm
elliptical wound and a 50 mm mark on a skin-textured plane, seen by a pinhole camera tilted
up to 30 degrees; the true image coordinates of every shape point are known, so the errors
measured here are those of the marker calibration alone.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zlib
from functools import cache

import cv2
import numpy as np
import pytest
from PIL import Image

import resources
from capture import markers
from capture.measure import (
    Calibration,
    MeasureError,
    Measurement,
    decode_image,
    find_marker,
    line_measurement,
    measure_line,
    measure_polygon,
    polygon_measurement,
)
from tests.support import aruco_scenes as scenes

TOLERANCE = 0.03
SHEET_PNG = resources.path("markers", "marqueurs-aruco-20mm.png")
SHEET_PDF = resources.path("markers", "marqueurs-aruco-20mm.pdf")


@cache
def scene(**kwargs: float) -> scenes.Scene:
    return scenes.render(**kwargs)  # type: ignore[arg-type]


def relative_error(measured: float, truth: float) -> float:
    return abs(measured - truth) / truth


# (tilt around x, tilt around y, camera roll, marker rotation on the skin), degrees
POSES = [
    (0, 0, 0, 0),
    (10, 0, 0, 0),
    (20, 0, 0, 0),
    (30, 0, 0, 0),
    (0, 10, 0, 0),
    (0, 20, 0, 0),
    (0, -30, 0, 0),
    (30, 30, 0, 0),
    (-20, 15, 15, 33),
    (25, -25, 90, 145),
    (0, 0, 45, 200),
    (-30, 0, -20, 290),
]


@pytest.mark.parametrize(("tilt_x", "tilt_y", "roll", "marker_angle"), POSES)
def test_lengths_and_areas_within_3_percent(
    tilt_x: float, tilt_y: float, roll: float, marker_angle: float
) -> None:
    s = scene(tilt_x_deg=tilt_x, tilt_y_deg=tilt_y, roll_deg=roll, marker_angle_deg=marker_angle)
    cal = find_marker(s.image)
    assert cal is not None
    assert cal.marker_id == 0

    line = line_measurement(cal, *s.line_px)
    assert line.calibrated
    assert line.unit == "mm"
    assert relative_error(line.length, 50.0) <= TOLERANCE

    true_area_cm2 = scenes.polygon_area(s.wound_mm) / 100
    true_perimeter = float(np.sum(np.linalg.norm(s.wound_mm - np.roll(s.wound_mm, -1, 0), axis=1)))
    area, perimeter, longest = measure_polygon(cal, s.wound_px)
    assert relative_error(area, true_area_cm2) <= TOLERANCE
    assert relative_error(perimeter, true_perimeter) <= TOLERANCE
    assert relative_error(longest, scenes.WOUND_AXES_MM[0]) <= TOLERANCE


@pytest.mark.parametrize(("tilt_x", "tilt_y"), [(30, 0), (0, 30), (-25, 20)])
def test_noisy_compressed_blurred_photo_within_3_percent(tilt_x: float, tilt_y: float) -> None:
    """Sensor noise, JPEG at quality 75 and a slight blur, as a real photo would have."""
    s = scene(tilt_x_deg=tilt_x, tilt_y_deg=tilt_y)
    rng = np.random.default_rng(11)
    noisy = np.clip(s.image + rng.normal(0, 4, s.image.shape), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.GaussianBlur(noisy, (0, 0), 1.0), [cv2.IMWRITE_JPEG_QUALITY, 75]
    )
    assert ok
    cal = find_marker(decode_image(encoded.tobytes()))
    assert cal is not None
    assert relative_error(measure_line(cal, *s.line_px), 50.0) <= TOLERANCE
    area, _perimeter, _longest = measure_polygon(cal, s.wound_px)
    assert relative_error(area, scenes.polygon_area(s.wound_mm) / 100) <= TOLERANCE


def test_tilt_would_be_wrong_without_the_homography() -> None:
    """The check has teeth: a single scale factor (no perspective correction) misses by far
    more than 3 % on a 30-degree photo, which the homography gets right."""
    s = scene(tilt_x_deg=30, tilt_y_deg=30)
    cal = find_marker(s.image)
    assert cal is not None
    mm_per_px = cal.marker_mm / cal.marker_side_px
    (x1, y1), (x2, y2) = s.line_px
    naive = math.dist((x1, y1), (x2, y2)) * mm_per_px
    assert relative_error(naive, 50.0) > 0.05
    assert relative_error(measure_line(cal, (x1, y1), (x2, y2)), 50.0) <= TOLERANCE


def test_spacing_at_marker_matches_the_camera() -> None:
    """Fronto-parallel: mm per pixel = distance / focal length, the same on both axes."""
    cal = find_marker(scene().image)
    assert cal is not None
    row, column = cal.spacing_at_marker()
    expected = scenes.DISTANCE_MM / scenes.FOCAL_PX
    assert relative_error(row, expected) < 0.005
    assert relative_error(column, expected) < 0.005
    tilted = find_marker(scene(tilt_x_deg=30).image)
    assert tilted is not None
    row, column = tilted.spacing_at_marker()
    assert abs(row / column - 1) > 0.05  # foreshortened along the tilt


def test_marker_size_is_a_parameter() -> None:
    s = scenes.render(marker_mm=30.0, tilt_x_deg=10)
    right = find_marker(s.image, marker_mm=30.0)
    wrong = find_marker(s.image, marker_mm=20.0)
    assert right is not None
    assert wrong is not None
    assert relative_error(measure_line(right, *s.line_px), 50.0) <= TOLERANCE
    assert relative_error(measure_line(wrong, *s.line_px), 50.0 * 20 / 30) <= TOLERANCE


def test_without_marker_measures_pixels() -> None:
    s = scene(marker=False)
    assert find_marker(s.image) is None
    line = line_measurement(None, *s.line_px)
    assert not line.calibrated
    assert line.unit == "px"
    assert line.reason == "no_marker"
    assert line.length_mm is None
    assert line.length == pytest.approx(math.dist(*s.line_px))
    outline = polygon_measurement(None, s.wound_px)
    assert outline.area_cm2 is None
    assert outline.area == pytest.approx(scenes.polygon_area(np.array(s.wound_px)))
    assert outline.reason == "no_marker"


@pytest.mark.parametrize(
    "dictionary",
    [cv2.aruco.DICT_6X6_250, cv2.aruco.DICT_5X5_100, cv2.aruco.DICT_APRILTAG_36h11],
)
def test_marker_of_another_dictionary_is_not_accepted(dictionary: int) -> None:
    s = scenes.render(dictionary=dictionary, tilt_x_deg=10)
    assert find_marker(s.image) is None
    assert find_marker(s.image, ids=None) is None
    # the same scene with one of ours is found: the refusal is about the dictionary
    assert find_marker(scenes.render(tilt_x_deg=10).image) is not None


def test_marker_id_outside_the_sheet_is_not_accepted() -> None:
    s = scenes.render(marker_id=7)
    assert find_marker(s.image) is None
    found = find_marker(s.image, ids=None)
    assert found is not None
    assert found.marker_id == 7


@pytest.mark.parametrize("hidden", [0.15, 0.4])
def test_partly_hidden_marker_gives_no_calibration(hidden: float) -> None:
    s = scenes.render(hide_fraction=hidden)
    cal = find_marker(s.image)
    assert cal is None
    m = polygon_measurement(cal, s.wound_px)
    assert (m.calibrated, m.unit, m.reason) == (False, "px", "no_marker")
    from app.messages import reason

    assert "entièrement visible" in reason(m.reason)


def test_measurement_round_trips_through_json() -> None:
    s = scene(tilt_x_deg=20)
    cal = find_marker(s.image)
    for m in (polygon_measurement(cal, s.wound_px), line_measurement(None, *s.line_px)):
        again = Measurement.from_dict(json.loads(json.dumps(m.to_dict())))
        assert again == m
    assert cal is not None
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


def test_measurement_from_dict_refuses_inconsistent_units() -> None:
    data = line_measurement(None, (0, 0), (3, 4)).to_dict()
    data["calibrated"] = True
    with pytest.raises(ValueError, match="calibrated"):
        Measurement.from_dict(data)


@pytest.mark.parametrize(
    "points",
    [
        [(0.0, 0.0), (10.0, 0.0)],  # too few
        [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0)],  # flat
        [(0.0, 0.0), (10.0, math.nan), (20.0, 5.0)],  # not a number
    ],
)
def test_bad_outlines_are_refused(points: list[tuple[float, float]]) -> None:
    with pytest.raises(MeasureError) as caught:
        measure_polygon(None, points)
    assert caught.value.code == "bad_points"


def test_point_beyond_the_horizon_is_refused() -> None:
    cal = find_marker(scene(tilt_x_deg=30).image)
    assert cal is not None
    h = cal.matrix
    centre = np.mean(np.array(cal.corners_px), axis=0)
    w_marker = centre @ h[2, :2] + h[2, 2]
    x = 800.0
    y_horizon = -(h[2, 2] + h[2, 0] * x) / h[2, 1]
    beyond = y_horizon + math.copysign(500.0, -w_marker * h[2, 1])
    assert (h[2, 0] * x + h[2, 1] * beyond + h[2, 2]) * w_marker < 0
    with pytest.raises(MeasureError) as caught:
        measure_line(cal, (x, beyond), tuple(centre))
    assert caught.value.code == "outside_plane"


def test_decode_image_turns_photos_upright() -> None:
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    assert decode_image(out.getvalue()).shape == (40, 20, 3)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\xff\xd8\xff\xe0 truncated"])
def test_decode_image_refuses_non_images(data: bytes) -> None:
    with pytest.raises(MeasureError) as caught:
        decode_image(data)
    assert caught.value.code == "not_an_image"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [9_000, 30_000])  # 81 and 900 megapixels
def test_decode_image_refuses_bombs_from_the_header(side: int) -> None:
    from capture.errors import DicomError
    from capture.jpeg import baseline_jpeg

    with pytest.raises(MeasureError) as caught:
        decode_image(png_header_only(side, side))
    assert caught.value.code == "not_an_image"
    with pytest.raises(DicomError) as refused:
        baseline_jpeg(png_header_only(side, side))
    assert refused.value.code == "not_an_image"


# --------------------------------------------------------------------------- marker sheet


def sheet_markers(png: bytes) -> tuple[float, dict[int, np.ndarray]]:
    """The sheet's dpi and the corners of every marker found in it (refined)."""
    with Image.open(io.BytesIO(png)) as img:
        dpi = float(img.info["dpi"][0])
        gray = np.asarray(img.convert("L"))
    params = cv2.aruco.DetectorParameters()
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), params
    )
    corners, ids, _rejected = detector.detectMarkers(gray)
    assert ids is not None
    return dpi, {int(i): c.reshape(4, 2) for c, i in zip(corners, ids.ravel(), strict=True)}


@pytest.mark.parametrize("source", ["committed", "fresh"])
def test_marker_sheet_has_four_20mm_markers(source: str) -> None:
    png = SHEET_PNG.read_bytes() if source == "committed" else markers.sheet_png()
    dpi, found = sheet_markers(png)
    assert dpi == pytest.approx(300, abs=0.01)
    assert sorted(found) == [0, 1, 2, 3]
    px_per_mm = dpi / 25.4
    for quad in found.values():
        # the detector's corners sit on pixel centres; the marker's edges lie half a pixel
        # outside them, so the printed side is the corner distance plus one pixel
        sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1) + 1.0
        assert np.all(np.abs(sides / px_per_mm - 20.0) <= 0.2)  # 20 mm +- 1 %


def test_marker_sheet_measures_itself() -> None:
    """Calibrated on marker 0 alone, the distance to marker 1 is the layout's 62 mm."""
    image = decode_image(SHEET_PNG.read_bytes())
    cal = find_marker(image)
    assert cal is not None
    _dpi, found = sheet_markers(SHEET_PNG.read_bytes())
    c0, c1 = (tuple(found[i].mean(axis=0)) for i in (0, 1))
    assert relative_error(measure_line(cal, c0, c1), markers.CELL_MM) < 0.01


def test_marker_sheet_pdf_is_one_a4_page() -> None:
    pdf = SHEET_PDF.read_bytes()
    assert pdf.startswith(b"%PDF-")
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert box is not None
    width_mm, height_mm = (float(v) / 72 * 25.4 for v in box.groups())
    assert width_mm == pytest.approx(210, abs=0.5)
    assert height_mm == pytest.approx(297, abs=0.5)
    assert re.search(rb"/Type /Pages\s*/Count 1\b", pdf)
    assert b"/CCITTFaxDecode" in pdf  # lossless, not JPEG
    assert b"/CreationDate" not in pdf  # reproducible
    assert b"/Width 2480" in pdf
    assert b"/Height 3508" in pdf


def test_marker_sheet_carries_the_printing_instruction() -> None:
    assert markers.PRINT_INSTRUCTION == (
        "Imprimer à 100 %, sans mise à l'échelle; vérifier la règle de 10 mm"
    )
    # the ruler: 11 ticks 1 mm apart below the instruction box
    with Image.open(SHEET_PNG) as img:
        gray = np.asarray(img.convert("L"))
    px_per_mm = 300 / 25.4
    row = gray[round(55.5 * px_per_mm)]  # through the ticks, above the base line
    left = round(14 * px_per_mm)
    dark = np.flatnonzero(row[left : left + round(12 * px_per_mm)] < 128)
    runs = np.split(dark, np.flatnonzero(np.diff(dark) > 1) + 1)
    centres = np.array([run.mean() for run in runs if len(run)])
    assert len(centres) == 11
    assert np.diff(centres) / px_per_mm == pytest.approx(np.ones(10), abs=0.1)
