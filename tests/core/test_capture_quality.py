"""The quality gate flags blur and bad exposure, and stays quiet on a good photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from capture.quality import BLURRY, OVEREXPOSED, UNDEREXPOSED, assess
from tests.support import real_faces, scenes


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("width", "height"), [(1600, 1200), (3200, 2400), (800, 600)])
def test_a_sharp_well_exposed_scene_raises_no_flag(seed: int, width: int, height: int) -> None:
    quality = assess(scenes.skin_scene(width, height, seed=seed))
    assert quality.flags == frozenset()
    assert quality.ok
    assert quality.highlights < 0.01
    assert quality.shadows < 0.01


@pytest.mark.parametrize("sigma", [2.5, 4.0, 8.0])
def test_out_of_focus_is_flagged_blurry(sigma: float) -> None:
    scene = scenes.skin_scene(1600, 1200, seed=1)
    sharp, soft = assess(scene), assess(scenes.blurred(scene, sigma))
    assert soft.flags == {BLURRY}
    assert soft.sharpness < sharp.sharpness / 5


def test_sharpness_does_not_depend_on_the_resolution() -> None:
    small = assess(scenes.skin_scene(1600, 1200, seed=2))
    large = assess(scenes.skin_scene(4800, 3600, seed=2))
    soft = assess(scenes.blurred(scenes.skin_scene(4800, 3600, seed=2), 8))
    assert large.ok
    assert small.ok
    assert soft.flags == {BLURRY}  # 8 px of blur at 4800 px is 1.7 px at the analysis size


def test_blown_out_is_flagged_overexposed() -> None:
    scene = scenes.skin_scene(1600, 1200)
    for gain in (1.6, 2.2):
        quality = assess(scenes.exposed(scene, gain))
        assert quality.flags == {OVEREXPOSED}
        assert quality.highlights > 0.05


def test_dim_but_sharp_is_not_called_blurred() -> None:
    scene = scenes.skin_scene(1600, 1200, seed=2)
    sharp = assess(scene)
    for gain in (0.5, 0.3):  # the Laplacian's variance falls with the square of the gain
        dim = assess(scenes.exposed(scene, gain))
        assert dim.ok, (gain, dim)
        assert dim.sharpness == pytest.approx(sharp.sharpness, rel=0.15)
    assert assess(scenes.blurred(scenes.exposed(scene, 0.3), 4)).flags == {BLURRY}


def test_dark_is_flagged_underexposed() -> None:
    scene = scenes.skin_scene(1600, 1200)
    quality = assess(scenes.exposed(scene, 0.2))
    assert quality.flags == {UNDEREXPOSED}
    assert quality.brightness < 45
    assert assess(scenes.exposed(scene, 0.7)).ok  # a little dim is still fine


def test_colour_order_and_grey_input() -> None:
    scene = scenes.skin_scene(800, 600)
    as_bgr = assess(scene)
    as_rgb = assess(cv2.cvtColor(scene, cv2.COLOR_BGR2RGB), order="rgb")
    grey = assess(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY))
    assert as_bgr.brightness == pytest.approx(as_rgb.brightness, abs=0.5)
    assert as_bgr.sharpness == pytest.approx(grey.sharpness, rel=0.05)


# --- real photographs (scikit-image's bundled data) -------------------------------------------

SHARP_AND_WELL_EXPOSED = (
    "astronaut.png",  # a black backdrop behind the subject, 14 % of the frame clipped black
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "motorcycle_left.png",
    "rocket.jpg",  # a dusk scene: dark, and rightly so
)


@pytest.mark.parametrize("name", SHARP_AND_WELL_EXPOSED)
def test_real_photographs_in_focus_and_well_exposed_raise_no_flag(name: str) -> None:
    photo = real_faces.photograph(name)
    assert assess(photo).ok
    assert BLURRY not in assess(scenes.exposed(photo, 0.5)).flags  # dimmer, still sharp
    assert BLURRY in assess(cv2.GaussianBlur(photo, (0, 0), 3)).flags
    assert UNDEREXPOSED in assess(scenes.exposed(photo, 0.2)).flags


def test_real_photographs_blown_out_are_flagged_overexposed() -> None:
    for name in ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png"):
        assert OVEREXPOSED in assess(scenes.exposed(real_faces.photograph(name), 2.2)).flags


def test_real_motion_blur_is_flagged_blurry() -> None:
    quality = assess(real_faces.photograph("clock_motion.png"))  # a camera moved while shooting
    assert quality.flags == {BLURRY}


@pytest.mark.parametrize("margin", [150, 300])  # the subject fills 56 % or 25 % of the frame
def test_a_black_backdrop_is_not_underexposure(margin: int) -> None:
    scene = scenes.skin_scene(1600, 1200)
    backdrop = np.zeros_like(scene)  # black velvet, as clinical photographers use
    inner = (slice(margin, 1200 - margin), slice(4 * margin // 3, 1600 - 4 * margin // 3))
    backdrop[inner] = scene[inner]
    quality = assess(backdrop)
    assert quality.shadows > 0.4  # most of the frame is clipped black…
    assert quality.ok  # …and the lit subject is what is judged
    assert abs(quality.brightness - assess(scene[inner]).brightness) < 5  # the subject's
    assert assess(scenes.exposed(backdrop, 0.25)).flags == {UNDEREXPOSED}
    assert assess(scenes.blurred(backdrop, 4)).flags == {BLURRY}


def test_a_frame_nearly_all_black_is_underexposed() -> None:
    scene = scenes.skin_scene(1600, 1200)
    frame = np.zeros_like(scene)
    frame[450:750, 600:1000] = scene[450:750, 600:1000]  # 6 % lit: too little to judge by
    assert UNDEREXPOSED in assess(frame).flags
    assert assess(np.zeros_like(scene)).flags == {UNDEREXPOSED}
