"""Baseline JPEG for DICOM: check a JPEG is baseline and strip its metadata segments, or
re-encode any image once as such.

:func:`clean_jpeg` keeps everything but APP1–APP15 and COM byte for byte (nothing is
recompressed); :func:`baseline_jpeg` re-encodes, upright and clean, for callers that choose
to. Used by :mod:`capture.dicom`'s export.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from capture.errors import DicomError
from capture.loading import decode_upright
from capture.measure import MAX_PIXELS

JPEG_QUALITY = 92


@dataclass(frozen=True)
class CleanJpeg:
    """A baseline JPEG stripped of APP1–APP15/COM, and what the export needs from it."""

    data: bytes
    width: int
    height: int
    components: int
    icc_profile: bytes | None


STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
SOF_MARKERS = {*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)}


def clean_jpeg(data: bytes) -> CleanJpeg:
    """Check that ``data`` is a baseline JPEG and drop its APP1–APP15 and COM segments.

    Everything else (APP0/JFIF, tables, frame and scan headers, entropy-coded data) is kept
    byte for byte, so nothing is recompressed.

    Raises:
        DicomError: ``not_a_jpeg``, ``jpeg_not_baseline`` (progressive, extended, lossless,
            arithmetic, not 8-bit, not 1 or 3 components, RGB-coded), ``jpeg_rotated``
            (an EXIF orientation other than upright, which stripping would lose).
    """
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        raise DicomError("not_a_jpeg", "no JPEG start-of-image marker")
    out = bytearray(b"\xff\xd8")
    icc_chunks: dict[int, bytes] = {}
    frame: tuple[int, int, int, int, list[int]] | None = None  # sof, precision, h, w, ids
    adobe_transform: int | None = None
    pos = 2
    try:
        while True:
            marker, pos = _next_marker(data, pos)
            if marker == 0xD9:  # EOI
                out += b"\xff\xd9"
                break
            if marker in STANDALONE:
                out += bytes((0xFF, marker))
                continue
            (length,) = struct.unpack(">H", data[pos : pos + 2])
            segment = data[pos + 2 : pos + length]
            if length < 2 or len(segment) != length - 2:
                raise DicomError("not_a_jpeg", "truncated JPEG segment")
            end = pos + length
            if marker in SOF_MARKERS:
                precision, height, width, count = struct.unpack(">BHHB", segment[:6])
                ids = [segment[6 + 3 * i] for i in range(count)]
                frame = (marker, precision, height, width, ids)
            if 0xE1 <= marker <= 0xEF or marker == 0xFE:
                if marker == 0xE2 and segment.startswith(b"ICC_PROFILE\x00"):
                    icc_chunks[segment[12]] = segment[14:]
                elif marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
                    if _exif_orientation(segment[6:]) not in (None, 1):
                        raise DicomError("jpeg_rotated", "EXIF orientation is not upright")
                elif marker == 0xEE and segment.startswith(b"Adobe") and len(segment) >= 12:
                    adobe_transform = segment[11]
                pos = end
                continue
            out += data[pos - 2 : end]
            pos = end
            if marker == 0xDA:  # start of scan: copy the entropy-coded data verbatim
                scan_end = _scan_end(data, pos)
                out += data[pos:scan_end]
                pos = scan_end
    except (struct.error, IndexError, ValueError) as exc:
        raise DicomError("not_a_jpeg", f"malformed or truncated JPEG: {exc}") from exc
    if frame is None:
        raise DicomError("not_a_jpeg", "no frame header")
    sof, precision, height, width, ids = frame
    if sof != 0xC0 or precision != 8:
        raise DicomError("jpeg_not_baseline", f"SOF{sof - 0xC0} {precision}-bit is not baseline")
    if len(ids) not in (1, 3) or width == 0 or height == 0:
        raise DicomError("jpeg_not_baseline", f"{len(ids)} components, {width}x{height}")
    if len(ids) == 3 and (adobe_transform == 0 or ids == [ord("R"), ord("G"), ord("B")]):
        raise DicomError("jpeg_not_baseline", "an RGB-coded JPEG is not YCbCr")
    icc = b"".join(icc_chunks[k] for k in sorted(icc_chunks)) or None
    return CleanJpeg(bytes(out), width, height, len(ids), icc)


def _next_marker(data: bytes, pos: int) -> tuple[int, int]:
    """The marker at ``pos`` (fill bytes skipped) and the position after it."""
    if data[pos] != 0xFF:
        raise DicomError("not_a_jpeg", f"expected a marker at byte {pos}")
    while data[pos] == 0xFF:
        pos += 1
    return data[pos], pos + 1


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded segment starting at ``pos`` ends (the next real marker)."""
    while True:
        pos = data.index(b"\xff", pos)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def _exif_orientation(tiff: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in an EXIF TIFF block; None if absent or
    unreadable (a damaged EXIF block is dropped with the rest, as viewers ignore it too)."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
        for i in range(count):
            entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag == 0x0112 and kind == 3:
                return int(struct.unpack(order + "H", entry[8:10])[0])
    except struct.error:
        return None
    return None


def baseline_jpeg(image: bytes, *, quality: int = JPEG_QUALITY) -> bytes:
    """Re-encode any image once as an upright baseline JPEG without metadata (ICC kept).

    Raises:
        DicomError: ``not_an_image`` when the data cannot be decoded.
    """
    upright, icc = decode_upright(
        image, max_pixels=MAX_PIXELS, error=lambda detail: DicomError("not_an_image", detail)
    )
    mode = "L" if upright.mode in ("1", "L", "I;16", "I", "F") else "RGB"
    converted = upright.convert(mode)
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "optimize": True, "progressive": False}
    if icc:
        options["icc_profile"] = icc
    converted.save(out, "JPEG", **options)
    return out.getvalue()
