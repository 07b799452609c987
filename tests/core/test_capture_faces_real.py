"""The face detector on photographs of real people (scikit-image's bundled data).

The schematic faces of ``test_capture_faces.py`` prove the pipeline; these prove the
cascades find *real* frontal faces: 100 from *Labeled Faces in the Wild*, and a portrait
going through the whole preparation. Profiles of real people are still untested here (no
such photographs ship with any package this project can install).
"""

from __future__ import annotations

import cv2
import numpy as np

from capture.faces import detect_faces, propose_regions
from capture.faces_decoding import load_and_propose
from capture.loading import load_image
from capture.prepare import prepare
from capture.regions import Rect
from tests.support import real_faces, scenes
from tests.support.detectors import EARLY_THREAD, RecordingDetector

WIDTH, HEIGHT = 3000, 2000
FACE = 240
"""8 % of the long edge: a face in the background of a wound photo taken at arm's length."""


def features(bgr: np.ndarray) -> float:
    """How much facial detail (eyes, nostrils, mouth) a crop holds: the Laplacian's variance
    at a quarter of the size, where the JPEG's 8-pixel block noise no longer counts."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (grey.shape[1] // 4, grey.shape[0] // 4), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_64F).var())


def test_nine_real_faces_in_ten_are_found_and_no_background_patch() -> None:
    hits, proposed = real_faces.recall(detect_faces, FACE, scene=(WIDTH, HEIGHT))
    assert hits >= 90, f"{hits} of 100 real faces found"
    assert proposed <= 2, f"{proposed} regions proposed on 100 background patches"


def test_regions_are_proposed_on_the_faces_only() -> None:
    faces, _ = real_faces.lfw_subset()
    scene = scenes.skin_scene(WIDTH, HEIGHT, seed=7)
    placed = real_faces.tile(scene, faces[:20], FACE, columns=5)
    regions = detect_faces(scene)
    assert sum(real_faces.found(p, regions) for p in placed) >= 18
    # Each region on a face, none on the skin alone. Since issue 17 (the 960 px copy), one
    # false box between four of these tightly packed faces joins their four areas into one:
    # more skin is blurred there, no face is missed; at most one such region.
    spans = [sum(bool(r.bounds().intersection(p).area) for p in placed) for r in regions]
    assert min(spans) >= 1
    assert sum(span > 1 for span in spans) <= 1


def test_detection_during_decoding_finds_real_faces_in_a_24_megapixel_jpeg() -> None:
    faces, others = real_faces.lfw_subset()
    # at most one region on the 20 background patches: issue 17's detector (960 px copy,
    # tilted passes) proposes one there, for the doctor to remove
    for patches, least, most in ((faces[:20], 18, 20), (others[:20], 0, 1)):
        scene = scenes.skin_scene(6000, 4000, seed=11)
        placed = real_faces.tile(scene, patches, 2 * FACE, columns=5)
        stored = cv2.rotate(scene, cv2.ROTATE_90_CLOCKWISE)
        data = scenes.jpeg_with_metadata(stored, orientation=8)
        detector = RecordingDetector()
        loaded, regions = load_and_propose(data, max_long_edge=3000, detector=detector)
        assert detector.threads == [EARLY_THREAD]
        assert regions.size == loaded.size == (6000, 4000)
        found = sum(real_faces.found(rect, list(regions)) for rect in placed)
        assert least <= found <= most
        assert least <= len(regions) <= most  # one region per face, none elsewhere


def test_a_real_portrait_is_found_and_blurred_beyond_detection() -> None:
    portrait = cv2.resize(real_faces.astronaut(), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    upright = scenes.skin_scene(4000, 3000, seed=4)
    upright[400:2448, 1500:3548] = portrait
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # as the camera wrote it
    loaded = load_image(scenes.jpeg_with_metadata(stored, orientation=6), max_long_edge=3000)
    regions = propose_regions(loaded)
    face = real_faces.ASTRONAUT_FACE
    skin = Rect(1500 + 4 * face.x, 400 + 4 * face.y, 4 * face.width, 4 * face.height)
    assert len(regions) == 1
    box = next(iter(regions)).bounds()
    assert box.intersection(skin).area > 0.95 * skin.area  # the whole face is covered
    assert box.area < 4 * skin.area  # and not half the photo
    regions.confirm()
    prepared = prepare(loaded, regions=regions)
    out = cv2.imdecode(np.frombuffer(prepared.data, np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == (2250, 3000, 3)
    assert detect_faces(out) == []
    scale = 3000 / 4000
    x, y = int(skin.x * scale), int(skin.y * scale)
    w, h = int(skin.width * scale), int(skin.height * scale)
    before = cv2.resize(upright, (3000, 2250), interpolation=cv2.INTER_AREA)[y : y + h, x : x + w]
    after = out[y : y + h, x : x + w]
    detail, original = features(after), features(before)
    assert detail < 0.02 * original, (detail, original)  # the features are gone, not softened
