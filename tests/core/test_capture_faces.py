"""Face detection and the regions the doctor edits.

What these tests prove, and what they do not: OpenCV's Haar cascades are run for real on
*schematic* faces drawn with OpenCV primitives (``tests/support/scenes.py``), which the
cascades do detect: a frontal face, and a profile facing left (found by the plain pass) or
right (found only by the mirrored pass). They prove the pipeline (detection copy, the three
passes, the mapping back to full-resolution upright coordinates, padding, merging, and the
blur making the face undetectable), and that textured skin-and-wound scenes and the demo's
sample photos raise no false detection. Real faces are in ``test_capture_faces_real.py``.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

import resources
from capture.errors import CaptureError
from capture.faces import FaceDetector, detect_faces, detection_copy, merge, propose_regions
from capture.faces_decoding import _detect_reduced, load_and_propose
from capture.loading import Header, LoadedImage, load_image, orient
from capture.prepare import prepare
from capture.regions import FRONTAL, MANUAL, PROFILE, Rect, Region, Regions, Stroke
from tests.support import scenes
from tests.support.detectors import EARLY_THREAD, RecordingDetector


def overlap(a: Rect, b: Rect) -> float:
    """Intersection over the smaller rectangle."""
    return a.intersection(b).area / min(a.area, b.area)


def test_a_frontal_face_is_found_where_it_is() -> None:
    scene = scenes.with_face(scenes.skin_scene(1600, 1200), scenes.frontal_face(300), 200, 250)
    found = detect_faces(scene)
    assert len(found) == 1
    box = found[0].bounds()
    assert found[0].origin == FRONTAL
    assert overlap(box, Rect(260, 320, 180, 220)) > 0.95  # the face's skin
    assert box.area < 4 * 300 * 300  # padded, not the whole photo
    assert min(box.x, box.y) >= 0
    assert box.x + box.width <= 1600
    assert box.y + box.height <= 1200


@pytest.mark.parametrize("facing_left", [True, False])
def test_profiles_both_ways_and_the_mirror_pass(facing_left: bool) -> None:
    face = scenes.profile_face(400, facing_left=facing_left)
    scene = scenes.with_face(scenes.skin_scene(1600, 1200), face, 900, 300)
    gray, scale = detection_copy(scene, 640)
    boxes = FaceDetector().boxes(gray)
    profiles = [b for b in boxes if b.origin == PROFILE]
    # the cascade knows one side only: the other side is found by the mirrored pass
    assert {b.mirrored for b in profiles} == {not facing_left}
    head = Rect(900 + 100 * (1 if facing_left else 0), 350, 250, 330)  # the head's skin
    for box in profiles:
        r = box.rect
        full = Rect(int(r.x / scale), int(r.y / scale), int(r.width / scale), int(r.height / scale))
        assert overlap(full, head) > 0.6  # mapped back to where the face is, not mirrored
    regions = detect_faces(scene)
    assert len(regions) == 1
    assert overlap(regions[0].bounds(), head) > 0.9


@pytest.mark.parametrize("seed", range(5))
def test_no_false_face_on_wound_scenes(seed: int) -> None:
    assert detect_faces(scenes.skin_scene(1600, 1200, seed=seed)) == []
    assert detect_faces(scenes.skin_scene(4000, 3000, seed=seed + 10)) == []


def test_no_false_face_on_the_sample_photos() -> None:
    for path in resources.sample_photos():
        loaded = load_image(path)
        assert len(propose_regions(loaded)) == 0, path.name


def test_proposals_are_in_upright_full_resolution_coordinates() -> None:
    upright = scenes.with_face(scenes.skin_scene(4000, 3000), scenes.frontal_face(900), 2600, 400)
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # what the camera wrote
    loaded = load_image(scenes.jpeg_with_metadata(stored, orientation=6))
    assert loaded.size == (4000, 3000)
    regions = propose_regions(loaded)
    assert regions.size == (4000, 3000)
    assert not regions.confirmed
    assert len(regions) == 1
    assert overlap(next(iter(regions)).bounds(), Rect(2780, 610, 540, 660)) > 0.95


def test_blurred_face_is_no_longer_detected() -> None:
    scene = scenes.with_face(scenes.skin_scene(1600, 1200), scenes.frontal_face(360), 600, 300)
    loaded = LoadedImage.from_frame(scene)
    regions = propose_regions(loaded)
    assert len(regions) == 1
    regions.confirm()
    prepared = prepare(loaded, regions=regions)
    out = cv2.imdecode(np.frombuffer(prepared.data, np.uint8), cv2.IMREAD_COLOR)
    assert detect_faces(out) == []
    assert prepared.report.regions_blurred == 1


def test_merge_joins_overlapping_boxes_only() -> None:
    merged = merge(
        [
            (Rect(0, 0, 100, 100), PROFILE),
            (Rect(20, 10, 100, 100), FRONTAL),
            (Rect(500, 500, 50, 50), PROFILE),
        ]
    )
    assert sorted(merged, key=lambda item: item[0].x) == [
        (Rect(0, 0, 120, 110), FRONTAL),
        (Rect(500, 500, 50, 50), PROFILE),
    ]


# --- regions -----------------------------------------------------------------------------


def test_regions_edit_and_confirmation() -> None:
    regions = Regions((1000, 800), [Region(Rect(900, 700, 300, 300), FRONTAL)])
    (detected,) = list(regions)
    assert detected.shape == Rect(900, 700, 100, 100)  # clipped to the image
    regions.confirm()
    manual = regions.add_rect(10, 10, 50, 40)
    assert manual.origin == MANUAL
    assert not regions.confirmed
    regions.confirm()
    regions.remove(detected.id)  # a false detection
    assert not regions.confirmed
    assert [r.id for r in regions] == [manual.id]
    with pytest.raises(KeyError):
        regions.remove("nope")
    with pytest.raises(ValueError, match="outside"):
        regions.add_rect(2000, 2000, 10, 10)
    with pytest.raises(ValueError, match="stroke"):
        regions.add_stroke([], radius=5)
    regions.clear()
    assert len(regions) == 0


def test_masks_scale_with_the_output() -> None:
    regions = Regions((1000, 500))
    regions.add_rect(100, 100, 200, 100)
    stroke = regions.add_stroke([(600, 250), (800, 250)], radius=20)
    assert isinstance(stroke.shape, Stroke)
    full = regions.mask()
    assert full.shape == (500, 1000)
    assert full[150, 200] == 255
    assert full[250, 700] == 255
    assert full[250 + 19, 700] == 255  # within the brush radius
    assert full[250 + 25, 700] == 0
    assert full[250, 580] == 255  # round cap
    assert full[50, 50] == 0
    half = regions.mask(500, 250)
    assert half.shape == (250, 500)
    assert half[75, 100] == 255
    assert half[125, 350] == 255
    assert abs(int(np.count_nonzero(half)) * 4 - int(np.count_nonzero(full))) < 0.05 * int(
        np.count_nonzero(full)
    )


# --- detecting while decoding -------------------------------------------------------------

INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
"""The EXIF orientation that undoes each one (a camera stores the upright scene so)."""


@pytest.mark.parametrize("orientation", range(1, 9))
def test_detection_during_decoding_puts_the_face_where_it_is(orientation: int) -> None:
    upright = scenes.with_face(scenes.skin_scene(4000, 3000), scenes.frontal_face(900), 2600, 400)
    stored = orient(upright, INVERSE[orientation])
    assert np.array_equal(orient(stored, orientation), upright)
    data = scenes.jpeg_with_metadata(stored, orientation=orientation)
    detector = RecordingDetector()
    loaded, regions = load_and_propose(data, max_long_edge=3000, detector=detector)
    assert detector.threads == [EARLY_THREAD]  # on the grey decode, beside the main one
    assert regions.size == loaded.size == (4000, 3000)
    assert not regions.confirmed
    assert len(regions) == 1
    head = Rect(2780, 610, 540, 660)
    early = next(iter(regions)).bounds()
    assert overlap(early, head) > 0.95
    (plain,) = propose_regions(load_image(data, max_long_edge=3000))
    assert overlap(early, plain.bounds()) > 0.9  # the plain way agrees
    regions.confirm()
    prepared = prepare(loaded, regions=regions)
    out = cv2.imdecode(np.frombuffer(prepared.data, np.uint8), cv2.IMREAD_COLOR)
    assert detect_faces(out) == []


def test_small_files_and_other_formats_are_detected_after_decoding() -> None:
    scene = scenes.with_face(scenes.skin_scene(1600, 1200), scenes.frontal_face(360), 600, 300)
    ok, png = cv2.imencode(".png", scene)
    assert ok
    for data in (scenes.encode_jpeg(scene), png.tobytes()):
        detector = RecordingDetector()
        loaded, regions = load_and_propose(data, detector=detector)
        assert detector.threads == [threading.current_thread().name]
        assert len(regions) == 1
        assert regions.size == loaded.size


def test_a_file_opencv_cannot_read_falls_back_to_the_plain_way() -> None:
    header = Header(b"\xff\xd8 not really a JPEG", "JPEG", (6000, 4000), 1)
    assert _detect_reduced(header, cv2.IMREAD_REDUCED_GRAYSCALE_4, FaceDetector()) is None
    with pytest.raises(CaptureError) as caught:
        load_and_propose(b"\xff\xd8\xff\xe0 truncated", max_long_edge=3000)
    assert caught.value.code == "not_an_image"
