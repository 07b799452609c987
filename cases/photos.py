"""Import a photo from a file: validate it, apply its orientation and strip its metadata.

Photos leave the workstation only inside a sealed bundle, but even there they carry no
EXIF, GPS, XMP or maker notes: the camera's serial number or a location must never travel
with a clinical photo. The colour profile is kept, because it is needed to see colours right.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from cases.errors import PhotoError

MAX_FILE_BYTES = 60 * 1024 * 1024
MAX_PIXELS = 60_000_000
JPEG_QUALITY = 92
THUMBNAIL_SIZE = (256, 256)


@dataclass(frozen=True)
class Photo:
    """A clinical photo held in memory, ready to go into a bundle.

    Attributes:
        name: a neutral file name inside the bundle (never the original file name, which
            may carry a patient's name).
        data: JPEG bytes without metadata.
        width, height: pixel size after orientation.
        site: body site code (``capture`` engine's list, e.g. ``"main_droite"``), or "".
        note: the doctor's note on this photo.
        measurements: calibrated or pixel measurements (``capture.measure.Measurement``
            as dicts), kept beside the pixels, never drawn into them.
        annotations: arrows, circles and text (vector data, a separate layer).
    """

    name: str
    data: bytes
    width: int
    height: int
    media_type: str = "image/jpeg"
    site: str = ""
    note: str = ""
    measurements: tuple[Mapping[str, Any], ...] = ()
    annotations: tuple[Mapping[str, Any], ...] = ()

    def details(self) -> dict[str, object]:
        """What a bundle's manifest says of this photo besides its bytes."""
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "sha256": self.sha256,
            "site": self.site,
            "note": self.note,
            "measurements": [dict(m) for m in self.measurements],
            "annotations": [dict(a) for a in self.annotations],
        }

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def import_photo(path: Path, name: str) -> Photo:
    """Read ``path`` and return a clean JPEG :class:`Photo` called ``name``.

    Raises:
        PhotoError: code ``unreadable`` (I/O), ``too_large``, ``not_an_image`` (corrupt or
            unknown format).
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PhotoError("too_large", f"{size} bytes is over the {MAX_FILE_BYTES} limit")
        raw = path.read_bytes()
    except OSError as exc:
        raise PhotoError("unreadable", f"cannot read the file: {exc.strerror}") from exc
    return photo_from_bytes(raw, name)


def photo_from_bytes(raw: bytes, name: str) -> Photo:
    """Validate and clean an encoded image (see :func:`import_photo`)."""
    if not raw:
        raise PhotoError("not_an_image", "the file is empty")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoError("too_large", f"{probe.width}x{probe.height} pixels")
            probe.verify()
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            icc = img.info.get("icc_profile")
            upright = ImageOps.exif_transpose(img)
            rgb = upright.convert("RGB")
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError("not_an_image", f"not a readable image: {exc}") from exc
    out = io.BytesIO()
    options: dict[str, object] = {"quality": JPEG_QUALITY, "optimize": True}
    if icc:
        options["icc_profile"] = icc
    rgb.save(out, "JPEG", **options)
    return Photo(name=name, data=out.getvalue(), width=rgb.width, height=rgb.height)


def thumbnail_png(photo: Photo, size: tuple[int, int] = THUMBNAIL_SIZE) -> bytes:
    """A small PNG of the photo for lists (kept in memory only)."""
    with Image.open(io.BytesIO(photo.data)) as img:
        img.thumbnail(size)
        out = io.BytesIO()
        img.save(out, "PNG")
    return out.getvalue()
