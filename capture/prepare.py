"""Turn a loaded photo or a camera frame into the JPEG that joins a case.

:func:`prepare` takes a :class:`capture.loading.LoadedImage` (or a BGR camera frame) and,
in memory:

1. turns it upright (EXIF orientation applied to the pixels) and caps its long edge
   (``INTER_AREA``; never upscales);
2. converts it to sRGB through its embedded ICC profile (Little CMS, relative
   colorimetric), unless the profile already is sRGB;
3. blurs the confirmed regions irreversibly (:func:`capture.regions.redact`); with
   ``anonymise=True`` it refuses regions the doctor has not confirmed;
4. encodes a baseline JPEG, quality ≥ 92, 4:2:2 chroma (what DICOM's ``YBR_FULL_422``
   expects, so ``capture.dicom`` can wrap it without recompressing), with **no metadata**:
   no EXIF, XMP, IPTC, GPS, maker notes, comment or thumbnail; only a fixed sRGB ICC profile
   (:func:`capture.encode.encode_jpeg`: stripes encoded on both cores and joined at
   restart markers).

It returns the bytes, the size, a neutral name (``photo-<uuid>.jpg``) and a
:class:`PrepareReport` of what was done, for the CLI and the capture screen to show.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import uuid
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageCms

from capture.encode import encode_jpeg
from capture.errors import AnonymisationUnconfirmed
from capture.loading import LoadedImage
from capture.regions import Image as Pixels
from capture.regions import Regions, redact

log = logging.getLogger(__name__)

MIN_QUALITY = 92
DEFAULT_MAX_LONG_EDGE = 3000

_cms_lock = threading.Lock()  # a Little CMS transform keeps a small cache: one user at a time


@dataclass(frozen=True)
class PrepareReport:
    """What :func:`prepare` did, as facts the CLI and the UI turn into sentences.

    Attributes:
        orientation: the EXIF orientation applied to the pixels (1: nothing to do).
        original_size: width, height once upright, before the cap.
        final_size: width, height of the JPEG.
        colour_source: description of the ICC profile converted from, or ``None`` when the
            photo already was sRGB (or had no profile, which means sRGB).
        regions_blurred: how many confirmed regions were blurred.
        metadata_removed: codes of the metadata the source carried and the JPEG does not
            (see :func:`capture.loading.found_metadata`).
    """

    orientation: int
    original_size: tuple[int, int]
    final_size: tuple[int, int]
    colour_source: str | None
    regions_blurred: int
    metadata_removed: tuple[str, ...]

    @property
    def rotated(self) -> bool:
        return self.orientation != 1

    @property
    def resized(self) -> bool:
        return self.original_size != self.final_size


@dataclass(frozen=True)
class Prepared:
    """A photo ready to join a case: JPEG bytes without metadata, and how it was made."""

    data: bytes
    width: int
    height: int
    name: str
    report: PrepareReport
    media_type: str = "image/jpeg"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def neutral_name() -> str:
    """A file name that says nothing: ``photo-<uuid4 hex>.jpg``."""
    return f"photo-{uuid.uuid4().hex}.jpg"


@cache
def srgb_profile() -> bytes:
    """The sRGB ICC profile embedded in every prepared JPEG, with a fixed creation date so
    that it never tells when the photo was prepared."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = bytes.fromhex("07d0 0001 0001 0000 0000 0000")  # 2000-01-01 00:00:00
    data[84:100] = bytes(16)  # no profile id (it would hash the old date)
    return bytes(data)


@cache
def _to_srgb(icc: bytes) -> tuple[ImageCms.ImageCmsTransform | None, str]:
    """A transform from ``icc`` to sRGB (``None`` if it is sRGB already) and its name."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    name = (ImageCms.getProfileDescription(profile) or "").strip() or "ICC"
    if "srgb" in name.lower():
        return None, name
    transform = ImageCms.buildTransform(
        profile,
        ImageCms.createProfile("sRGB"),
        "RGB",
        "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )
    return transform, name


def to_srgb(pixels: Pixels, icc: bytes | None) -> tuple[Pixels, str | None]:
    """``pixels`` (RGB) converted from ``icc`` to sRGB, and the source profile's name
    (``None`` when nothing was converted). An unreadable profile is ignored (logged)."""
    if not icc:
        return pixels, None
    try:
        transform, name = _to_srgb(icc)
    except (ImageCms.PyCMSError, OSError, ValueError):
        log.warning("the embedded ICC profile is unreadable; the photo is taken as sRGB")
        return pixels, None
    if transform is None:
        return pixels, None
    with _cms_lock:
        converted = ImageCms.applyTransform(Image.fromarray(pixels), transform)
    assert converted is not None  # applyTransform returns None only with inPlace=True
    return np.asarray(converted), name


def prepare(
    image: LoadedImage | Pixels,
    *,
    max_long_edge: int = DEFAULT_MAX_LONG_EDGE,
    quality: int = MIN_QUALITY,
    regions: Regions | None = None,
    anonymise: bool = True,
) -> Prepared:
    """The case-ready JPEG of ``image`` (a :class:`LoadedImage`, or a BGR camera frame).

    Args:
        max_long_edge: the long edge is scaled down to this (never up).
        quality: JPEG quality, 92 to 100.
        regions: the areas to blur, in upright full-resolution coordinates.
        anonymise: when true (the default), ``regions`` must be given and confirmed, even if
            empty (the doctor confirmed there is nothing to blur). When false, no
            confirmation is asked; regions given are blurred all the same.

    Raises:
        AnonymisationUnconfirmed: ``anonymise`` and the regions are missing or unconfirmed.
        ValueError: a bad ``quality`` or ``max_long_edge``, or regions of another size.
    """
    if not MIN_QUALITY <= quality <= 100:
        raise ValueError(f"quality must be {MIN_QUALITY} to 100, not {quality}")
    if max_long_edge < 1:
        raise ValueError("max_long_edge must be positive")
    loaded = image if isinstance(image, LoadedImage) else LoadedImage.from_frame(image)
    if anonymise and (regions is None or not regions.confirmed):
        raise AnonymisationUnconfirmed()
    if regions is not None and regions.size != loaded.size:
        raise ValueError(f"regions are for {regions.size}, the image is {loaded.size}")
    pixels, colour_source = to_srgb(loaded.pixels(max_long_edge), loaded.icc_profile)
    blurred = 0
    if regions is not None and len(regions):
        pixels = np.array(pixels)  # a private, writable copy: the loaded image stays intact
        redact(pixels, regions.areas(pixels.shape[1], pixels.shape[0]))
        blurred = len(regions)
    height, width = pixels.shape[:2]
    data = encode_jpeg(pixels, quality=quality, icc_profile=srgb_profile())
    report = PrepareReport(
        orientation=loaded.orientation,
        original_size=loaded.size,
        final_size=(width, height),
        colour_source=colour_source,
        regions_blurred=blurred,
        metadata_removed=loaded.metadata,
    )
    return Prepared(data, width, height, neutral_name(), report)
