"""Loading and preparing photos: bombs refused before decoding, upright, sRGB, no metadata."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import zlib
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms, ImageOps

from capture.errors import AnonymisationUnconfirmed, CaptureError
from capture.loading import LoadedImage, load_image, orient
from capture.prepare import prepare, srgb_profile
from capture.regions import Regions
from tests.support import scenes
from tests.support.tools import require_tool

NAME = re.compile(r"^photo-[0-9a-f]{32}\.jpg$")


def confirmed(image: LoadedImage) -> Regions:
    regions = Regions(image.size)
    regions.confirm()
    return regions


def segments(jpeg: bytes) -> list[int]:
    """The JPEG markers before the scan (an independent look at what the file holds)."""
    assert jpeg[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos < len(jpeg):
        assert jpeg[pos] == 0xFF
        marker = jpeg[pos + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return markers
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        pos += 2 + length
    raise AssertionError("no scan")


def exiftool_json(tool: str, path: Path) -> dict[str, object]:
    done = subprocess.run(
        [tool, "-j", "-a", "-G1", "-u", str(path)], capture_output=True, check=True, timeout=60
    )
    found: dict[str, object] = json.loads(done.stdout)[0]
    return found


# --- loading -----------------------------------------------------------------------------


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` and whose pixel data is garbage: any
    attempt to decode it fails, so refusing it for its size proves the check comes first."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"garbage")
        + chunk(b"IEND", b"")
    )


def test_a_real_200_megapixel_png_is_refused() -> None:
    bomb = scenes.png_bomb()
    assert len(bomb) < 200_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))  # Pillow, left alone, sees a bomb too
    with pytest.raises(CaptureError) as caught:
        load_image(bomb)
    assert caught.value.code == "image_too_large"


@pytest.mark.parametrize(("width", "height"), [(20_000, 10_000), (12_000, 9_000)])
def test_too_many_pixels_is_refused_before_decoding(width: int, height: int) -> None:
    # 108 megapixels is under Pillow's own hard limit (179): our check does the refusing.
    with pytest.raises(CaptureError) as caught:
        load_image(header_only_png(width, height))
    assert caught.value.code == "image_too_large"
    # the same garbage under the limit is refused as damaged, once decoding is attempted
    with pytest.raises(CaptureError) as caught:
        load_image(header_only_png(1000, 1000))
    assert caught.value.code == "not_an_image"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"not a photo at all, just text", "not_an_image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "not_an_image"),
    ],
)
def test_bad_bytes_have_a_code(content: bytes, code: str) -> None:
    with pytest.raises(CaptureError) as caught:
        load_image(content)
    assert caught.value.code == code


def test_truncated_jpeg_and_other_formats(tmp_path: Path) -> None:
    data = scenes.encode_jpeg(scenes.skin_scene(400, 300))
    with pytest.raises(CaptureError) as caught:
        load_image(data[: len(data) // 2])
    assert caught.value.code == "not_an_image"
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    with pytest.raises(CaptureError) as caught:
        load_image(gif.getvalue())
    assert caught.value.code == "unsupported_image_format"
    with pytest.raises(CaptureError) as caught:
        load_image(tmp_path / "absent.jpg")
    assert caught.value.code == "unreadable"


@pytest.mark.parametrize("kind", ["PNG", "TIFF", "HEIF"])
def test_formats_load_with_their_icc_profile(kind: str) -> None:
    icc = scenes.adobe_rgb_icc()
    img = Image.new("RGB", (64, 48), (200, 60, 50))
    out = io.BytesIO()
    options: dict[str, object] = {"icc_profile": icc}
    if kind == "HEIF":
        pillow_heif.register_heif_opener()
        options["quality"] = -1  # lossless
    img.save(out, kind, **options)
    loaded = load_image(out.getvalue())
    assert loaded.format == kind
    assert loaded.size == (64, 48)
    assert loaded.icc_profile is not None
    profile = ImageCms.ImageCmsProfile(io.BytesIO(loaded.icc_profile))
    assert ImageCms.getProfileDescription(profile).strip() == "Test Adobe RGB (1998)"


def test_sixteen_bit_grey_png_is_scaled_not_clipped() -> None:
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, "PNG")
    pixels = load_image(out.getvalue()).pixels()
    assert pixels.shape == (16, 16, 3)
    assert int(pixels[0, 0, 0]) == 0
    assert int(pixels[15, 15, 0]) == 255
    assert 120 <= int(pixels[8, 0, 0]) <= 135  # mid-grey stays mid-grey


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    stored = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    img = Image.fromarray(stored)
    img.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(img))
    assert np.array_equal(orient(stored, orientation), expected)


# --- preparing ---------------------------------------------------------------------------


def test_metadata_is_gone_for_exiftool(tmp_path: Path) -> None:
    exiftool = require_tool("exiftool")
    source = tmp_path / "DUPONT_Jean_plaie.jpg"
    source.write_bytes(scenes.jpeg_with_metadata(scenes.skin_scene(800, 600)))
    before = exiftool_json(exiftool, source)
    # the independent checker sees every planted item in the input…
    assert before["ExifIFD:SerialNumber"] == "SERIAL-123456"
    assert "GPS:GPSLatitude" in before
    assert "XMP-xmpMM:PreservedFileName" in before
    assert "IPTC:By-line" in before
    assert "File:Comment" in before
    assert any("MakerNote" in key for key in before)
    loaded = load_image(source)
    prepared = prepare(loaded, regions=confirmed(loaded))
    out = tmp_path / prepared.name
    out.write_bytes(prepared.data)
    after = exiftool_json(exiftool, out)
    # …and none in the output: only the file's structure, JFIF and the sRGB profile remain
    groups = {key.split(":")[0] for key in after if ":" in key}
    assert groups <= {
        "ExifTool",
        "System",
        "File",
        "JFIF",
        "ICC-header",
        "ICC_Profile",
        "ICC-chrm",
        "Composite",
    }
    assert "File:Comment" not in after
    assert after["ICC_Profile:ProfileDescription"] == "sRGB built-in"
    assert after["ICC-header:ProfileDateTime"] == "2000:01:01 00:00:00"  # never "now"
    assert after["File:EncodingProcess"] == "Baseline DCT, Huffman coding"
    assert after["File:YCbCrSubSampling"] == "YCbCr4:2:2 (2 1)"
    for secret in scenes.SECRETS:
        assert secret not in prepared.data
    assert NAME.match(prepared.name)
    assert set(prepared.report.metadata_removed) >= {
        "exif",
        "gps",
        "serial_number",
        "maker_notes",
        "capture_date",
        "xmp",
        "iptc",
        "comment",
    }


def test_output_holds_no_segment_but_jfif_and_icc() -> None:
    data = scenes.jpeg_with_metadata(scenes.skin_scene(320, 240), orientation=3)
    loaded = load_image(data)
    prepared = prepare(loaded, regions=confirmed(loaded), quality=95)
    markers = segments(prepared.data)
    app_segments = sorted({m for m in markers if 0xE0 <= m <= 0xEF})
    assert app_segments == [0xE0, 0xE2]  # JFIF, ICC profile
    assert 0xFE not in markers  # no comment
    assert 0xC0 in markers  # baseline
    assert not {0xC1, 0xC2, 0xC3} & set(markers)  # neither extended nor progressive
    assert prepared.data.count(srgb_profile()[:64]) == 1
    with Image.open(io.BytesIO(prepared.data)) as img:
        assert not img.getexif()


def test_orientation_6_is_applied_to_the_pixels() -> None:
    stored = np.full((200, 300, 3), 230, np.uint8)
    stored[0:40, 0:40] = (20, 20, 20)  # a dark corner to follow: top left as stored
    loaded = load_image(scenes.jpeg_with_metadata(stored, orientation=6))
    assert loaded.size == (200, 300)
    prepared = prepare(loaded, regions=confirmed(loaded))
    assert (prepared.width, prepared.height) == (200, 300)
    assert prepared.report.orientation == 6
    assert prepared.report.rotated
    with Image.open(io.BytesIO(prepared.data)) as img:
        assert not img.getexif().get(0x0112)
        # rotated 90° clockwise, the corner is now at the top right
        assert sum(img.getpixel((img.width - 10, 10))) < 150
        assert sum(img.getpixel((10, 10))) > 600


def colour_patch(prepared_data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(prepared_data)) as img:
        rgb = np.asarray(img.convert("RGB"), np.float64)
    return rgb[8:-8, 8:-8].reshape(-1, 3).mean(axis=0)


def test_adobe_rgb_is_converted_to_srgb() -> None:
    adobe = (200, 60, 50)
    expected = np.array(scenes.adobe_to_srgb(adobe))  # textbook formulas, not Little CMS
    assert np.abs(expected - adobe).max() > 25  # a colour the conversion visibly moves
    bgr = np.zeros((64, 64, 3), np.uint8)
    bgr[:] = adobe[::-1]
    data = scenes.encode_jpeg(bgr, quality=100, icc_profile=scenes.adobe_rgb_icc())
    loaded = load_image(data)
    prepared = prepare(loaded, quality=100, regions=confirmed(loaded))
    assert prepared.report.colour_source == "Test Adobe RGB (1998)"
    assert np.abs(colour_patch(prepared.data) - expected).max() < 4
    # the same pixels tagged sRGB are left alone
    srgb_data = scenes.encode_jpeg(bgr, quality=100, icc_profile=srgb_profile())
    loaded = load_image(srgb_data)
    untouched = prepare(loaded, quality=100, regions=confirmed(loaded))
    assert untouched.report.colour_source is None
    assert np.abs(colour_patch(untouched.data) - adobe).max() < 4


def test_long_edge_is_capped_never_upscaled() -> None:
    big = load_image(scenes.encode_jpeg(scenes.skin_scene(4000, 3000)))
    prepared = prepare(big, regions=confirmed(big))
    assert (prepared.width, prepared.height) == (3000, 2250)
    assert prepared.report.original_size == (4000, 3000)
    assert prepared.report.resized
    small = load_image(scenes.encode_jpeg(scenes.skin_scene(640, 480)))
    kept = prepare(small, max_long_edge=1000, regions=confirmed(small))
    assert (kept.width, kept.height) == (640, 480)
    assert not kept.report.resized
    odd = prepare(big, max_long_edge=1001, regions=confirmed(big))
    assert (odd.width, odd.height) == (1001, 751)


def test_anonymising_needs_confirmed_regions() -> None:
    loaded = LoadedImage.from_frame(scenes.skin_scene(320, 240))
    with pytest.raises(AnonymisationUnconfirmed) as caught:
        prepare(loaded)
    assert caught.value.code == "anonymisation_unconfirmed"
    regions = Regions(loaded.size)
    regions.add_rect(10, 10, 50, 50)
    with pytest.raises(AnonymisationUnconfirmed):
        prepare(loaded, regions=regions)
    regions.confirm()
    assert prepare(loaded, regions=regions).report.regions_blurred == 1
    regions.add_rect(100, 100, 20, 20)  # an edit withdraws the confirmation
    with pytest.raises(AnonymisationUnconfirmed):
        prepare(loaded, regions=regions)
    assert prepare(loaded, anonymise=False).report.regions_blurred == 0
    with pytest.raises(ValueError, match="quality"):
        prepare(loaded, anonymise=False, quality=80)
    with pytest.raises(ValueError, match="regions are for"):
        prepare(loaded, regions=confirmed(LoadedImage.from_frame(np.zeros((9, 9, 3), np.uint8))))


def high_frequency(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F).var())


def test_blur_is_irreversible_and_stays_inside_the_region() -> None:
    scene = scenes.skin_scene(1200, 900, seed=4)
    loaded = LoadedImage.from_frame(scene)
    regions = Regions(loaded.size)
    regions.add_rect(300, 200, 400, 400)
    regions.add_stroke([(900, 100), (1000, 300)], radius=30)
    regions.confirm()
    prepared = prepare(loaded, quality=100, regions=regions)
    out = cv2.imdecode(np.frombuffer(prepared.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    before = cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY)
    inside = (slice(210, 590), slice(310, 690))
    # the detail is gone: almost no high-frequency energy left where the rectangle was
    assert high_frequency(out[inside]) < 0.02 * high_frequency(before[inside])
    # …and the pixels hold no more than a coarse grid of averages: a 12×12 block average
    # of the original, scaled back, is closer to the output than the original itself
    coarse = cv2.resize(
        cv2.resize(before[inside], (8, 8), interpolation=cv2.INTER_AREA),
        (380, 380),
        interpolation=cv2.INTER_LINEAR,
    )
    assert (
        np.abs(out[inside].astype(int) - coarse).mean()
        < np.abs(out[inside].astype(int) - before[inside]).mean()
    )
    # the stroke is blurred along its path, and the rest of the photo is untouched
    for x, y in ((925, 150), (950, 200), (975, 250)):
        window = (slice(y - 12, y + 12), slice(x - 12, x + 12))
        assert high_frequency(out[window]) < 0.05 * high_frequency(before[window])
    untouched = (slice(650, 880), slice(50, 250))
    assert np.abs(out[untouched].astype(int) - before[untouched]).mean() < 3
    assert prepared.report.regions_blurred == 2
    assert loaded.pixels()[300, 400].tolist() == scene[300, 400][::-1].tolist()  # intact


def test_a_camera_frame_is_prepared_directly() -> None:
    frame = scenes.skin_scene(1920, 1080)
    prepared = prepare(frame, anonymise=False, max_long_edge=1280)
    assert (prepared.width, prepared.height) == (1280, 720)
    assert prepared.report.metadata_removed == ()
    assert prepared.report.orientation == 1
    decoded = cv2.imdecode(np.frombuffer(prepared.data, np.uint8), cv2.IMREAD_COLOR)
    expected = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA)
    assert np.abs(decoded.astype(int) - expected).mean() < 4  # colours kept, not swapped
    assert len(prepared.sha256) == 64


def test_reduced_scale_decoding_matches_a_full_decode() -> None:
    data = scenes.encode_jpeg(scenes.skin_scene(4000, 3000, seed=6), quality=92)
    full = load_image(data)
    fast = load_image(data, max_long_edge=1800)  # 1/2 DCT scale (2000 px), then area
    assert fast.size == full.size == (4000, 3000)
    assert fast.max_long_edge == 2000
    assert full.max_long_edge == 4000
    a = full.pixels(1800).astype(np.float64)
    b = fast.pixels(1800).astype(np.float64)
    assert a.shape == b.shape == (1350, 1800, 3)
    psnr = 10 * np.log10(255**2 / ((a - b) ** 2).mean())
    assert psnr > 40
    assert fast.pixels(3000).shape == (1500, 2000, 3)  # never upscaled past what was decoded
    prepared = prepare(fast, regions=confirmed(fast), max_long_edge=1800)
    assert (prepared.width, prepared.height) == (1800, 1350)
    assert prepared.report.original_size == (4000, 3000)
    assert prepare(fast, regions=confirmed(fast)).width == 2000


def test_heic_orientation_is_applied_once() -> None:
    pillow_heif.register_heif_opener()
    stored = np.full((48, 64, 3), 230, np.uint8)
    stored[0:12, 0:12] = 20  # dark corner, top left as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "HEIF", quality=-1, exif=exif.tobytes())
    loaded = load_image(out.getvalue())
    assert loaded.size == (48, 64)  # turned once (by the HEIF decoder), not twice
    prepared = prepare(loaded, regions=confirmed(loaded))
    with Image.open(io.BytesIO(prepared.data)) as img:
        assert img.size == (48, 64)
        assert sum(img.getpixel((img.width - 4, 4))) < 200  # corner now top right
        assert not img.getexif()


def test_the_working_copy_is_kept_beside_a_smaller_one() -> None:
    loaded = load_image(scenes.encode_jpeg(scenes.skin_scene(1600, 1200)))
    working = loaded.pixels(1000)
    small = loaded.pixels(256)  # the quality check's copy
    assert loaded.pixels(1000) is working
    assert loaded.pixels(256) is small
    loaded.pixels(300)  # a third size pushes out the one least recently asked for
    assert loaded.pixels(256) is small
    assert loaded.pixels(1000) is not working
    assert np.array_equal(loaded.pixels(1000), working)
