"""The quality gate flags blur and bad exposure, and stays quiet on a good photo."""

from __future__ import annotations

import cv2
import pytest

from capture.quality import BLURRY, OVEREXPOSED, UNDEREXPOSED, assess
from tests.support import scenes


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
