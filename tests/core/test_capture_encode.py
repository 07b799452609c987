"""The prepared photo's JPEG encoder: stripes encoded at once and joined at restart markers.

The joined file must be the very file one encoder writes for the whole image (same bytes),
so that any decoder, ``dciodvfy`` and the DICOM wrapper see one ordinary baseline JPEG.
"""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from capture import encode
from capture.encode import encode_jpeg, join_stripes, stripe_cuts, with_icc
from capture.prepare import srgb_profile
from tests.support import scenes


def whole(bgr: np.ndarray, quality: int) -> bytes:
    """What one libjpeg encoder writes for the whole image with the same settings."""
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
        cv2.IMWRITE_JPEG_RST_INTERVAL,
        -(-bgr.shape[1] // 16),
    ]
    ok, data = cv2.imencode(".jpg", bgr, params)
    assert ok
    return data.tobytes()


def markers(data: bytes) -> list[int]:
    """Every marker of ``data``, in order, entropy-coded data skipped (RSTn included)."""
    found, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        found.append(marker)
        if marker == 0xD9:
            break
        if 0xD0 <= marker <= 0xD7:
            pos += 2
        else:
            pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker == 0xDA or 0xD0 <= marker <= 0xD7:  # entropy-coded data follows
            while not (data[pos] == 0xFF and data[pos + 1] not in (0x00, 0xFF)):
                pos += 1
    return found


@pytest.mark.parametrize("size", [(1501, 1203), (3000, 2000), (2000, 3000), (640, 1030)])
def test_joined_stripes_are_the_file_one_encoder_writes(size: tuple[int, int]) -> None:
    width, height = size
    bgr = scenes.skin_scene(width, height, seed=width)
    assert len(stripe_cuts(height, 8)) == (2 if height >= 2 * encode.MIN_STRIPE_ROWS else 1)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert encode_jpeg(rgb, quality=92) == whole(bgr, 92)
    assert encode_jpeg(bgr, quality=95, order="bgr") == whole(bgr, 95)


def test_stripes_are_cut_on_bands_of_eight_mcu_rows() -> None:
    assert stripe_cuts(2000, 8) == [1024, 2000]
    assert stripe_cuts(3000, 8) == [1472, 3000]  # 23 bands of 64 rows, the nearest to half
    assert stripe_cuts(1030, 8) == [512, 1030]
    assert stripe_cuts(1000, 8) == [1000]  # too small to be worth a second stripe
    for height in range(1024, 4000, 37):
        cuts = stripe_cuts(height, 8)
        assert cuts[-1] == height
        assert all(cut % 64 == 0 for cut in cuts[:-1])
        assert cuts == sorted(set(cuts))


def test_the_output_is_a_restartable_baseline_jpeg_with_its_profile_only() -> None:
    bgr = scenes.skin_scene(1600, 1201, seed=3)
    data = encode_jpeg(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), quality=92, icc_profile=srgb_profile())
    found = markers(data)
    assert found[:2] == [0xE0, 0xE2]  # JFIF, then the ICC profile, then the tables
    assert sorted({m for m in found if 0xE0 <= m <= 0xEF or m == 0xFE}) == [0xE0, 0xE2]
    assert 0xC0 in found  # a baseline frame
    assert 0xDD in found  # a restart interval
    rows = -(-1201 // 8)
    restarts = [m for m in found if 0xD0 <= m <= 0xD7]
    assert len(restarts) == rows - 1  # one between every two MCU rows
    assert restarts == [0xD0 + i % 8 for i in range(rows - 1)]  # numbered as one scan
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (1600, 1201)
        assert img.info["icc_profile"] == srgb_profile()
        decoded = np.asarray(img.convert("RGB"), np.int16)
    expected = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.int16)
    assert np.abs(decoded - expected).mean() < 3  # the image, not a stripe of it


def test_a_stripe_that_lost_its_end_is_refused() -> None:
    stripe = whole(scenes.skin_scene(64, 64), 92)
    with pytest.raises(ValueError, match="end-of-image"):
        join_stripes([stripe[:-2], stripe], 128)


def test_the_profile_goes_after_the_jfif_segment_or_the_start() -> None:
    data = whole(scenes.skin_scene(32, 32), 92)
    profile = srgb_profile()
    tagged = with_icc(data, profile)
    assert tagged.index(b"ICC_PROFILE\x00\x01\x01") == 2 + 2 + 16 + 4
    no_jfif = data[:2] + data[2 + 2 + 16 :]
    assert with_icc(no_jfif, profile).index(b"ICC_PROFILE") == 2 + 4
    assert with_icc(data, None) == data
    with pytest.raises(ValueError, match="one JPEG segment"):
        with_icc(data, bytes(70_000))
