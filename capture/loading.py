"""Decode an imported photo: refuse bombs before decoding, remember what the file carried.

:func:`load_image` reads JPEG, PNG, TIFF or HEIC (through ``pillow_heif``) from a path or
from bytes, refuses more than :data:`MAX_PIXELS` from the header alone, decodes, and keeps
the EXIF orientation, the ICC profile and the list of identifying metadata it found (for
the report). :class:`LoadedImage` is what :func:`capture.prepare.prepare` takes; a camera
frame becomes one through :meth:`LoadedImage.from_frame`.

Everything stays in memory. Of a TIFF, only the first page is read: the others are noted as
extra images (:data:`EXTRA_IMAGES`) from the first page's link to the next, never walked.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from capture.errors import (
    EMPTY_FILE,
    IMAGE_TOO_LARGE,
    NOT_AN_IMAGE,
    UNREADABLE,
    UNSUPPORTED_IMAGE_FORMAT,
    CaptureError,
)
from capture.regions import Image as Pixels

BOMBS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
MAX_PIXELS = 100_000_000
"""Refused above this many pixels, from the header, before any pixel is decoded."""
MAX_FILE_BYTES = 250 * 1024 * 1024
"""Refused above this many bytes, before reading the file."""
CACHED_SIZES = 2
"""How many sizes of its upright pixels a :class:`LoadedImage` keeps."""
FORMATS = ("JPEG", "MPO", "PNG", "TIFF", "HEIF")
"""Pillow format names accepted (MPO is the multi-picture JPEG some cameras write)."""

# Codes of the metadata :func:`found_metadata` recognises (the CLI and UI name them).
EXIF = "exif"
GPS = "gps"
SERIAL_NUMBER = "serial_number"
MAKER_NOTES = "maker_notes"
CAPTURE_DATE = "capture_date"
THUMBNAIL = "thumbnail"
XMP = "xmp"
IPTC = "iptc"
COMMENT = "comment"
TEXT = "text"
EXTRA_IMAGES = "extra_images"

# EXIF orientation -> (cv2.flip code applied first or None, cv2.rotate code or None).
_ORIENTATION_OPS: dict[int, tuple[int | None, int | None]] = {
    1: (None, None),
    2: (1, None),
    3: (None, cv2.ROTATE_180),
    4: (0, None),
    5: (1, cv2.ROTATE_90_COUNTERCLOCKWISE),
    6: (None, cv2.ROTATE_90_CLOCKWISE),
    7: (1, cv2.ROTATE_90_CLOCKWISE),
    8: (None, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


@cache
def _register_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


def orient(pixels: Pixels, orientation: int) -> Pixels:
    """``pixels`` turned upright according to an EXIF ``orientation`` (1–8)."""
    flip, rotate = _ORIENTATION_OPS.get(orientation, (None, None))
    out = pixels
    if flip is not None:
        out = cv2.flip(out, flip)
    if rotate is not None:
        out = cv2.rotate(out, rotate)
    return out


class LoadedImage:
    """A decoded image, not yet prepared: the pixels as stored, plus what the file said.

    Attributes:
        format: ``JPEG``, ``PNG``, ``TIFF``, ``HEIF``, ``MPO`` or ``frame`` (a camera frame).
        orientation: the EXIF orientation still to apply (1 = already upright).
        icc_profile: the embedded ICC profile, or ``None`` (then sRGB is assumed).
        metadata: codes of the metadata the source carried (see :func:`found_metadata`);
            none of it survives :func:`capture.prepare.prepare`.
    """

    def __init__(
        self,
        decoded: Image.Image | Pixels,
        *,
        format: str,
        orientation: int = 1,
        icc_profile: bytes | None = None,
        metadata: tuple[str, ...] = (),
        stored_size: tuple[int, int] | None = None,
    ) -> None:
        self.format = format
        self.orientation = orientation if orientation in _ORIENTATION_OPS else 1
        self.icc_profile = icc_profile or None
        self.metadata = metadata
        self._decoded = decoded
        if isinstance(decoded, Image.Image):
            decoded_size = decoded.size
        else:
            decoded_size = (decoded.shape[1], decoded.shape[0])
        self._decoded_edge = max(decoded_size)
        self._stored = stored_size or decoded_size
        swap = self.orientation >= 5
        self._size = (self._stored[1], self._stored[0]) if swap else self._stored
        self._lock = threading.Lock()
        self._cached: dict[int, Pixels] = {}

    @classmethod
    def from_frame(cls, frame: Pixels) -> LoadedImage:
        """Wraps a camera frame (BGR, as OpenCV delivers it): upright, sRGB, no metadata."""
        return cls(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), format="frame")

    @property
    def size(self) -> tuple[int, int]:
        """Width and height once upright, at full resolution (the frame of the regions)."""
        return self._size

    @property
    def max_long_edge(self) -> int:
        """The longest edge :meth:`pixels` can give (less than the full size when the file
        was decoded at a reduced scale: see :func:`load_image`)."""
        return self._decoded_edge

    def pixels(self, max_long_edge: int | None = None) -> Pixels:
        """The upright RGB pixels, scaled down to ``max_long_edge`` if larger (never up).

        The result is read-only and cached (the last :data:`CACHED_SIZES` sizes asked for, so
        that a small copy for the quality check does not push out the working copy): copy it
        to modify it.
        """
        edge = self._decoded_edge if max_long_edge is None else max_long_edge
        target = max(1, min(edge, self._decoded_edge))
        with self._lock:
            cached = self._cached.pop(target, None)
            if cached is None:
                cached = orient(self._scaled(target / max(self._stored)), self.orientation)
                cached.setflags(write=False)
            self._cached[target] = cached  # the most recent last
            while len(self._cached) > CACHED_SIZES:
                del self._cached[next(iter(self._cached))]
            return cached

    def _scaled(self, scale: float) -> Pixels:
        """The stored (not yet upright) pixels at ``scale`` of the full size, as RGB."""
        size = (max(1, round(self._stored[0] * scale)), max(1, round(self._stored[1] * scale)))
        decoded = self._decoded
        if isinstance(decoded, Image.Image):
            factor = decoded.width // size[0]
            if factor >= 2:  # a fast box reduction first, in Pillow, before the copy out
                decoded = decoded.reduce(factor)
            array = np.asarray(decoded)
        else:
            array = decoded
        if (array.shape[1], array.shape[0]) != size:
            array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
        return array


@dataclass(frozen=True)
class Header:
    """What a file's header says, known before any pixel is decoded (see ``on_header``).

    Attributes:
        data: the whole encoded file.
        format: the Pillow format name (one of :data:`FORMATS`).
        stored_size: width, height as stored (before the EXIF orientation).
        orientation: the EXIF orientation (1–8).
    """

    data: bytes
    format: str
    stored_size: tuple[int, int]
    orientation: int

    @property
    def size(self) -> tuple[int, int]:
        """Width and height once upright."""
        width, height = self.stored_size
        return (height, width) if self.orientation >= 5 else (width, height)


def load_image(
    source: Path | str | bytes,
    *,
    max_long_edge: int | None = None,
    on_header: Callable[[Header], None] | None = None,
) -> LoadedImage:
    """Reads and decodes an image file, or encoded bytes, for :func:`capture.prepare.prepare`.

    Args:
        max_long_edge: the largest long edge the caller will ask for (the preparation cap).
            A JPEG at least twice as large is then decoded at a reduced DCT scale (libjpeg's
            1/2, 1/4 or 1/8), never below that edge: on a 24-megapixel photo capped to
            3000 px this halves the decoding time, and the result matches a full decode
            followed by an area downscale with a PSNR above 40 dB (a test checks it). Without
            it, the full resolution is decoded.
        on_header: called once the header has passed the checks, before decoding starts,
            so that other work on the same file can run during the decoding (see
            :func:`capture.faces_decoding.load_and_propose`). Not called for a refused file.

    Raises:
        CaptureError: ``unreadable``, ``empty_file``, ``image_too_large`` (bytes or pixels;
            checked before decoding), ``unsupported_image_format``, ``not_an_image``.
    """
    raw = _read(source)
    if not raw:
        raise CaptureError(EMPTY_FILE, "the file is empty")
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError as exc:
        raise CaptureError(IMAGE_TOO_LARGE, f"decompression bomb refused: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CaptureError(NOT_AN_IMAGE, f"not a readable image: {exc}") from exc
    if img.format not in FORMATS:
        raise CaptureError(UNSUPPORTED_IMAGE_FORMAT, f"format {img.format} is not accepted")
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise CaptureError(IMAGE_TOO_LARGE, f"{width}x{height} pixels is over {MAX_PIXELS}")
    if width < 1 or height < 1:
        raise CaptureError(NOT_AN_IMAGE, "the image has no pixels")
    try:
        orientation = int(img.getexif().get(0x0112, 1))
        icc = img.info.get("icc_profile") if img.mode != "CMYK" else None
        metadata = found_metadata(img)
        stored = img.size
        if on_header is not None:
            upright = orientation if orientation in _ORIENTATION_OPS else 1
            on_header(Header(raw, str(img.format), stored, upright))
        if max_long_edge is not None and img.format in ("JPEG", "MPO"):
            scale = max_long_edge / max(stored)
            if scale <= 0.5:
                img.draft(img.mode, (math.ceil(stored[0] * scale), math.ceil(stored[1] * scale)))
        img.load()
        metadata = tuple(dict.fromkeys(metadata + found_metadata(img)))
        rgb = _to_rgb(img)
    except (OSError, SyntaxError, ValueError, EOFError, TypeError) as exc:
        raise CaptureError(NOT_AN_IMAGE, f"damaged image: {exc}") from exc
    return LoadedImage(
        rgb,
        format=str(img.format),
        orientation=orientation,
        icc_profile=icc,
        metadata=metadata,
        stored_size=stored,
    )


def decode_upright(
    data: bytes, *, max_pixels: int, error: Callable[[str], Exception]
) -> tuple[Image.Image, bytes | None]:
    """``data`` decoded whole and turned upright by its EXIF orientation, with its ICC
    profile: for the commands that measure a photo or re-encode it for DICOM.

    Raises:
        ``error(detail)`` (from the cause): empty data, more than ``max_pixels`` (checked
        from the header), a decompression bomb, or data Pillow cannot decode.
    """
    if not data:
        raise error("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > max_pixels:
                    raise error(f"{img.width}x{img.height} is too large")
                img.load()
                return ImageOps.exif_transpose(img), img.info.get("icc_profile")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, *BOMBS) as exc:
        raise error(f"not a readable image: {exc}") from exc


def _read(source: Path | str | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CaptureError(IMAGE_TOO_LARGE, f"{size} bytes is over {MAX_FILE_BYTES}")
        return path.read_bytes()
    except OSError as exc:
        raise CaptureError(UNREADABLE, f"cannot read the file: {exc.strerror}") from exc


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any decoded mode as 8-bit RGB (16-bit grey scaled down, alpha dropped).

    CMYK goes through Pillow's plain conversion: its ICC profile is not used (CMYK comes
    from scanners and print workflows, not from the cameras this station serves).
    """
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I;16") or img.mode == "I":
        high = img.convert("I").getextrema()[1]
        scale = 255 / high if isinstance(high, int) and high > 255 else 1.0
        return img.convert("I").point(lambda v: v * scale).convert("L").convert("RGB")
    return img.convert("RGB")


def found_metadata(img: Image.Image) -> tuple[str, ...]:
    """Codes of the identifying metadata ``img``'s file carries (nothing of it is kept)."""
    found: list[str] = []
    info = img.info
    exif = img.getexif()
    if len(exif) or info.get("exif"):
        found.append(EXIF)
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if exif.get_ifd(ExifTags.IFD.GPSInfo):
        found.append(GPS)
    if 0xA431 in sub or 0xC62F in exif:  # BodySerialNumber, CameraSerialNumber
        found.append(SERIAL_NUMBER)
    if 0x927C in sub:
        found.append(MAKER_NOTES)
    if 0x9003 in sub or 0x9004 in sub or 0x0132 in exif:
        found.append(CAPTURE_DATE)
    if exif.get_ifd(ExifTags.IFD.IFD1) or info.get("thumbnails"):
        found.append(THUMBNAIL)
    if info.get("xmp") or info.get("XML:com.adobe.xmp"):
        found.append(XMP)
    applist = getattr(img, "applist", [])
    if info.get("photoshop") or any(marker == "APP13" for marker, _ in applist):
        found.append(IPTC)
    if info.get("comment"):
        found.append(COMMENT)
    text = getattr(img, "text", None) if img.format == "PNG" else None
    if text and set(text) - {"XML:com.adobe.xmp"}:
        found.append(TEXT)
    mpf = any(marker == "APP2" and data.startswith(b"MPF") for marker, data in applist)
    if mpf or _several_frames(img) or info.get("depth_images"):
        found.append(EXTRA_IMAGES)
    return tuple(found)


def _several_frames(img: Image.Image) -> bool:
    """Whether ``img``'s file holds more than one image (frame, page).

    Only the first page of a TIFF is ever read: Pillow counts a TIFF's pages by reading
    every one of them, in a time that grows with the square of their number (100,000
    one-pixel pages took 54 s), so that a TIFF's other pages are known from the first
    page's link to the next (``is_animated``), without reading them. The other formats
    know their count from their header.
    """
    if img.format == "TIFF":
        return bool(getattr(img, "is_animated", False))
    return int(getattr(img, "n_frames", 1)) > 1
