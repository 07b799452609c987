"""Photo import: clean JPEGs out, metadata stripped, clear errors for bad files."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

import resources
from cases.errors import PhotoError
from cases.photos import import_photo, photo_from_bytes, thumbnail_png
from tests.support.tools import require_tool


def photo_with_exif(path: Path, orientation: int = 6) -> Path:
    """A 300x200 JPEG whose EXIF carries GPS, a camera serial and an orientation."""
    img = Image.new("RGB", (300, 200), (200, 120, 100))
    img.paste((20, 20, 20), (0, 0, 30, 30))  # a dark corner to follow the rotation
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0xA431] = "SERIAL-123456"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 0.0)}  # GPS IFD
    img.save(path, "JPEG", exif=exif.tobytes())
    return path


def test_sample_photos_import_cleanly() -> None:
    samples = resources.sample_photos()
    assert len(samples) >= 3
    photo = import_photo(samples[0], "photo-1.jpg")
    assert photo.name == "photo-1.jpg"
    assert photo.data[:2] == b"\xff\xd8"
    assert (photo.width, photo.height) == (800, 600)


def test_orientation_applied_and_metadata_stripped(tmp_path: Path) -> None:
    photo = import_photo(photo_with_exif(tmp_path / "IMG_0001.jpg"), "photo-1.jpg")
    assert (photo.width, photo.height) == (200, 300)  # rotated upright
    with Image.open(io.BytesIO(photo.data)) as img:
        assert not img.getexif()
        # orientation 6 = rotate 90° clockwise: the dark corner moves to the top right
        assert sum(img.getpixel((img.width - 5, 5))) < 150
        assert sum(img.getpixel((5, 5))) > 300


def test_exiftool_finds_no_identifying_metadata(tmp_path: Path) -> None:
    exiftool = require_tool("exiftool")
    photo = import_photo(photo_with_exif(tmp_path / "in.jpg"), "photo-1.jpg")
    out = tmp_path / "out.jpg"
    out.write_bytes(photo.data)
    before = json.loads(
        subprocess.run(
            [exiftool, "-json", "-a", str(tmp_path / "in.jpg")], capture_output=True, check=True
        ).stdout
    )[0]
    after = json.loads(
        subprocess.run([exiftool, "-json", "-a", str(out)], capture_output=True, check=True).stdout
    )[0]
    assert "SerialNumber" in before or "GPSLatitudeRef" in before  # the checker sees them…
    leaked = [k for k in after if k.startswith("GPS") or "Serial" in k or k == "Orientation"]
    assert leaked == []  # …and none survive the import
    assert "ExifVersion" not in after


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "not_an_image"),
        (b"not a photo at all", "not_an_image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "not_an_image"),
    ],
)
def test_bad_files_give_a_clear_code(content: bytes, code: str) -> None:
    with pytest.raises(PhotoError) as caught:
        photo_from_bytes(content, "photo-1.jpg")
    assert caught.value.code == code


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    data = resources.sample_photos()[0].read_bytes()
    with pytest.raises(PhotoError) as caught:
        photo_from_bytes(data[: len(data) // 2], "photo-1.jpg")
    assert caught.value.code == "not_an_image"


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(PhotoError) as caught:
        import_photo(tmp_path / "absent.jpg", "photo-1.jpg")
    assert caught.value.code == "unreadable"


def test_png_input_becomes_jpeg_and_thumbnail_is_small(tmp_path: Path) -> None:
    Image.new("RGBA", (1000, 500), (10, 200, 10, 128)).save(tmp_path / "x.png")
    photo = import_photo(tmp_path / "x.png", "photo-2.jpg")
    assert photo.data[:2] == b"\xff\xd8"
    with Image.open(io.BytesIO(thumbnail_png(photo))) as thumb:
        assert max(thumb.size) == 256
