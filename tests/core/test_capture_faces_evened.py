"""The frontal pass on the detection copy with its light evened (issue 17 §4, round 6).

A side light across a face (a window beside the patient) turns the frontal cascade's
features into a gradient: LFW subset face 4 lit from 0.5 to 1.5 across, at 8 % of the
photo, is seen by no pass at all. Divided by its local mean, the copy shows the face again.
The attacker here is the dark wound: on the evened copy, a dark area shows structure the
cascade takes for a face, with a "shaded eye band"; such boxes must not be kept on their
shade (``bench/README.md``, round 6).
"""

from __future__ import annotations

import cv2
import numpy as np

from capture.faces import FaceDetector, _load, detection_copy
from capture.faces_confirm import EYE_CASCADE, LEAST_EYES, confirmed, eye_windows
from capture.faces_passes import EVEN_SIGMA, evened
from capture.regions import FRONTAL, Rect
from tests.support import real_faces, scenes

WIDTH, HEIGHT = 3000, 2000


def test_the_evened_copy_takes_a_side_light_out_and_keeps_the_detail() -> None:
    """A textured patch under a light going from 0.5 to 1.5 across: the evened copy is as
    bright on both sides (within a few levels), and its detail (the texture) stays."""
    rng = np.random.default_rng(1)
    texture = cv2.GaussianBlur(rng.normal(128, 30, (200, 400)).astype(np.float32), (0, 0), 2)
    light = np.linspace(0.5, 1.5, 400, dtype=np.float32)[None, :]
    lit = np.clip(texture * light, 0, 255).astype(np.uint8)
    flat = evened(lit).image
    assert flat.dtype == np.uint8
    assert flat.shape == lit.shape
    margin = int(3 * EVEN_SIGMA)  # away from the borders, where the local mean is one-sided
    left, right = flat[:, margin:100].mean(), flat[:, 300:-margin].mean()
    assert abs(lit[:, margin:100].mean() - lit[:, 300:-margin].mean()) > 80
    assert abs(left - right) < 6, (left, right)
    inside = (slice(margin, -margin), slice(margin, -margin))
    kept = np.corrcoef(flat[inside].ravel(), texture[inside].ravel())[0, 1]
    assert kept > 0.9, kept  # the texture is still there, where the light was taken out
    assert np.corrcoef(lit[inside].ravel(), texture[inside].ravel())[0, 1] < kept
    assert evened(lit).evened


def test_a_face_under_a_side_light_no_other_pass_sees_is_found() -> None:
    faces, _ = real_faces.lfw_subset()
    scene = scenes.skin_scene(WIDTH, HEIGHT, seed=0)
    placed = real_faces.tile(scene, faces[:20], 240, 5, variant="uneven light", seed=0)
    found = FaceDetector().detect(scene)
    without = FaceDetector(even_light=False).detect(scene)
    assert real_faces.found(placed[4], found)
    assert not real_faces.found(placed[4], without)
    # every face the other passes find is still found
    assert all(real_faces.found(r, found) for r in placed if real_faces.found(r, without))


def test_a_dark_wound_area_the_evened_pass_sees_is_not_kept_on_its_shade() -> None:
    """Wound scene 224, turned a quarter: the evened pass groups 4 windows on a dark area,
    whose upper part is darker than its lower one (the shade rule would keep it) and shows
    no eyes. It is not proposed."""
    image = cv2.rotate(scenes.skin_scene(WIDTH, HEIGHT, seed=224), cv2.ROTATE_90_CLOCKWISE)
    detector = FaceDetector()
    gray, scale = detection_copy(image, detector.detect_edge)
    eyes = _load(EYE_CASCADE)
    evened_boxes = [b for b in detector.boxes(gray) if b.evened and not b.weak]
    assert evened_boxes
    shaded = []
    for box in evened_boxes:
        r = box.rect
        where = Rect(*(round(v / scale) for v in (r.x, r.y, r.width, r.height)))
        if confirmed(eyes, image, where, neighbors=box.neighbors):  # with the shade rule
            shaded.append(where)
            assert eye_windows(eyes, image, where) < LEAST_EYES
            assert not confirmed(eyes, image, where, neighbors=box.neighbors, shade=False)
    assert shaded  # the shade rule alone would have kept it
    assert [r for r in detector.detect(image) if r.origin == FRONTAL] == []
