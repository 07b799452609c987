"""DICOM in: any DICOM image, rendered for display with window and level.

:func:`load_dicom` reads any DICOM image (single or multi-frame: ultrasound loops,
tomosynthesis) whose pixels pydicom can decode with what is
installed (uncompressed, RLE, JPEG baseline and extended; through GDCM, ``python-gdcm``, the
JPEG Lossless, JPEG-LS and JPEG 2000 that radiography systems write), and
:func:`window_level` renders it with the DICOM defaults: Rescale Slope/Intercept, then the
file's window (else min/max), and MONOCHROME1 inverted. Of a multi-frame image, the first
frame is shown first; :meth:`DicomImage.with_frame` gives any other.

A DICOM file comes from outside: what reading it costs is bounded before the work is done
(issue 15), and a file beyond a bound is refused as ``dicom_too_large``:

* the file holds at most :data:`MAX_FILE_BYTES`, and a deflated dataset inflates to at most
  :data:`MAX_INFLATED_BYTES` (counted as it inflates, keeping nothing, before it is inflated
  to be read);
* the structure pydicom will parse (data elements, sequence items, fragments of encapsulated
  pixels) is counted first, without pydicom: at most :data:`MAX_ELEMENTS`, nested at most
  :data:`MAX_NESTING` deep (pydicom spends up to 30 µs and 1.3 kB on each;
  :mod:`capture.dicom_structure`);
* the decoded size the header declares (rows × columns × samples × bytes per sample ×
  frames) is at most :data:`MAX_PIXEL_BYTES`, a frame at most :data:`MAX_FRAME_PIXELS`, the
  frames at most :data:`MAX_FRAMES`, checked before any pixel is decoded;
* the frames are decoded one at a time into a stack allocated once;
* what GDCM decodes (lossless JPEG, JPEG-LS, JPEG 2000) is decoded in a child process,
  killed after a timeout: GDCM aborts its process on some damaged streams
  (:mod:`capture.dicom_isolated`);
* running out of memory anyway (a small machine) is the same refusal, never a
  ``MemoryError``.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import warnings
import zlib
from collections import abc
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import iter_pixels, pixel_array
from pydicom.uid import (
    JPEG2000TransferSyntaxes,
    JPEGBaseline8Bit,
    RLETransferSyntaxes,
    UncompressedTransferSyntaxes,
)

from capture.dicom_isolated import decode_in_child
from capture.dicom_structure import MAX_ELEMENTS as MAX_ELEMENTS
from capture.dicom_structure import MAX_NESTING as MAX_NESTING
from capture.dicom_structure import TOO_LARGE as TOO_LARGE
from capture.dicom_structure import check_structure
from capture.errors import DicomError

log = logging.getLogger(__name__)

MAX_PIXEL_BYTES = 256 * 1024 * 1024
"""Decoded pixels of one file: an ultrasound loop of 290 colour frames at 640 × 480, or 128
CT slices at 1024 × 1024 (16 bits). A photo to attach is one frame; a larger study belongs
in a PACS, not in a request."""
MAX_FILE_BYTES = MAX_PIXEL_BYTES + 64 * 1024 * 1024
"""Bytes of the file, checked before it is read (the pixels and the rest of the dataset)."""
MAX_INFLATED_BYTES = MAX_FILE_BYTES
"""Bytes a deflated dataset may inflate to: what an uncompressed file may hold."""
MAX_FRAMES = 4096
"""Frames of a multi-frame image (two minutes of an ultrasound loop at 30 frames a second)."""
MAX_FRAME_PIXELS = 40_000_000
"""Pixels of one frame: nearly twice a mammogram (4096 × 5600). Windowing works on a frame in
floating point (8 bytes a pixel, several copies): 40 megapixels already cost a gigabyte."""
_PILLOW = "pillow"
_PILLOW_FIRST = frozenset({JPEGBaseline8Bit})
"""Syntaxes decoded by Pillow alone when it is there: GDCM, pydicom's first choice, aborts
the whole process (a C++ exception nothing catches) on some damaged JPEG streams, where
Pillow raises an error; what GDCM decodes is decoded in a child process. (Pillow does not
read every JPEG 2000 GDCM reads, and cannot read lossless JPEG or JPEG-LS: those stay with
GDCM.)"""
_IN_PROCESS = frozenset({*UncompressedTransferSyntaxes, *RLETransferSyntaxes})
"""Syntaxes whose pixels pydicom decodes itself (numpy), safe in this process; the others
go to GDCM (unless Pillow takes them), in a child process (:mod:`capture.dicom_isolated`)."""


@dataclass(frozen=True)
class DicomImage:
    """One frame of a DICOM image (the first, until :meth:`with_frame` chooses another), as
    stored, and what is needed to display it.

    ``pixels`` holds stored values ((rows, columns) for grey, (rows, columns, 3) for colour,
    which pydicom gives as RGB, converted from YBR when needed); ``photometric`` describes
    ``pixels`` after that conversion. ``stack`` holds every frame of a multi-frame image
    (frame first), ``None`` for a single one; ``frame`` is the index of ``pixels`` in it.
    """

    pixels: NDArray[np.generic]
    photometric: str
    rescale_slope: float
    rescale_intercept: float
    window: tuple[float, float] | None  # (centre, width) from the file
    pixel_spacing: tuple[float, float] | None  # (row, column) mm
    frames: int
    modality: str
    sop_class_uid: str
    stack: NDArray[np.generic] | None = None
    frame: int = 0

    @property
    def is_colour(self) -> bool:
        return self.pixels.ndim == 3

    def with_frame(self, index: int) -> DicomImage:
        """The same image showing frame ``index`` (0 is the first).

        Raises:
            IndexError: no such frame.
        """
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} of {self.frames}")
        if self.stack is None:
            return self
        return replace(self, pixels=self.stack[index], frame=index)

    def stored_range(self) -> tuple[float, float]:
        """The lowest and highest modality values over every frame (for the window's range)."""
        values = self.pixels if self.stack is None else self.stack
        ends = np.array([values.min(), values.max()], dtype=np.float64)
        low, high = sorted(ends * self.rescale_slope + self.rescale_intercept)
        return float(low), float(high)

    def modality_values(self) -> NDArray[np.float64]:
        """Stored values through Rescale Slope and Intercept (e.g. Hounsfield units)."""
        values = self.pixels.astype(np.float64)
        return values * self.rescale_slope + self.rescale_intercept

    def display(self) -> NDArray[np.uint8]:
        """An 8-bit image to show: colour as is; grey through the VOI window, then
        MONOCHROME1 inverted. The window is the file's first, else the values' min/max over
        every frame (so that the frames of a series compare)."""
        if self.is_colour:
            return _to_uint8_colour(self.pixels)
        values = self.modality_values()
        if self.window is not None:
            centre, width = self.window
        else:
            low, high = self.stored_range()
            centre, width = (low + high + 1) / 2, high - low + 1
        shown = window_level(values, centre, width)
        if self.photometric == "MONOCHROME1":
            shown = np.asarray(255 - shown, dtype=np.uint8)
        return shown


def window_level(pixels: NDArray[np.generic], center: float, width: float) -> NDArray[np.uint8]:
    """The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) onto 0-255.

    ``x <= c - 0.5 - (w-1)/2`` gives 0, ``x > c - 0.5 + (w-1)/2`` gives 255, and in between
    ``((x - (c - 0.5)) / (w - 1) + 0.5) * 255``. ``width`` must be at least 1.
    """
    if not (width >= 1 and math.isfinite(width) and math.isfinite(center)):
        raise ValueError("window width must be a finite number >= 1")
    x = np.asarray(pixels, dtype=np.float64)
    if width == 1:
        return np.where(x <= center - 0.5, 0, 255).astype(np.uint8)
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    y = np.where(x <= low, 0.0, np.where(x > high, 255.0, y))
    return np.asarray(np.clip(np.rint(y), 0, 255), dtype=np.uint8)


def load_dicom(source: bytes | str | Path) -> DicomImage:
    """Read a DICOM file (bytes or a path) and decode its frames (the first one shown).

    Raises:
        DicomError: ``unreadable`` (I/O), ``not_dicom`` (not DICOM or corrupt),
            ``dicom_no_pixels`` (no image in it), ``dicom_unsupported`` (a compression or
            pixel format that cannot be decoded here), ``dicom_damaged`` (corrupt pixels),
            ``dicom_too_large`` (beyond a bound of the module's documentation, or out of
            memory).
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # pydicom warns about damaged files: log, not raise
            image = _load(_read(source))
    except MemoryError as exc:  # bounded, yet more than this machine can spare
        raise DicomError(TOO_LARGE, "out of memory while reading the file") from exc
    for warning in caught:
        log.info("while reading a DICOM file: %s", warning.message)
    return image


# What pydicom raises when it converts a damaged element's value (an unknown VR, a number
# that is not one, text that does not decode).
_VALUE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    NotImplementedError,
    OverflowError,
    BytesLengthException,
)


def _read(source: bytes | str | Path) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        try:
            path = Path(source)
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise DicomError(TOO_LARGE, f"{size} bytes is over {MAX_FILE_BYTES}")
            data = path.read_bytes()
        except OSError as exc:
            raise DicomError("unreadable", f"cannot read the file: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise DicomError(TOO_LARGE, f"{len(data)} bytes is over {MAX_FILE_BYTES}")
    return data


def _load(raw: bytes) -> DicomImage:
    check_structure(raw, MAX_INFLATED_BYTES)
    try:
        ds = dcmread(io.BytesIO(raw))
        has_pixels = "PixelData" in ds
    except (InvalidDicomError, EOFError, OSError, *_VALUE_ERRORS) as exc:
        raise DicomError("not_dicom", f"not a readable DICOM file: {exc}") from exc
    except (struct.error, AttributeError, zlib.error) as exc:
        raise DicomError("not_dicom", f"corrupt DICOM file: {exc}") from exc
    if len(ds) == 0:
        raise DicomError("not_dicom", "no data element could be read")
    if not has_pixels:
        raise DicomError("dicom_no_pixels", "the DICOM file holds no image")
    try:
        syntax = ds.file_meta.get("TransferSyntaxUID", "")
    except _VALUE_ERRORS as exc:
        raise DicomError("not_dicom", f"an unreadable transfer syntax: {exc}") from exc
    if not isinstance(syntax, str):
        raise DicomError("not_dicom", "the transfer syntax is not a UID")
    try:
        decoder = get_decoder(syntax)
    except (NotImplementedError, ValueError) as exc:  # an unknown or unset transfer syntax
        raise DicomError("dicom_unsupported", f"no decoder for {syntax!r}: {exc}") from exc
    if not decoder.is_available:
        raise DicomError("dicom_unsupported", f"no installed decoder for {syntax!r}")
    plugin = _PILLOW if syntax in _PILLOW_FIRST and _PILLOW in decoder.available_plugins else ""
    frames, shape = _declared(ds)
    try:
        photometric = str(ds.get("PhotometricInterpretation", ""))
        image = DicomImage(
            pixels=np.zeros((1, 1)),  # decoded below, once the header has been read
            photometric="RGB" if len(shape) == 3 and photometric.startswith("YBR") else photometric,
            rescale_slope=float(ds.get("RescaleSlope", 1) or 1),
            rescale_intercept=float(ds.get("RescaleIntercept", 0) or 0),
            window=_window(ds),
            pixel_spacing=_spacing(ds),
            frames=frames,
            modality=str(ds.get("Modality", "")),
            sop_class_uid=str(ds.get("SOPClassUID", "")),
        )
    except _VALUE_ERRORS as exc:
        raise DicomError("not_dicom", f"an unreadable attribute: {exc}") from exc
    if syntax in _IN_PROCESS or plugin == _PILLOW:
        array = decode_checked(ds, frames, shape, plugin)
    else:  # GDCM's turn: it may abort the process on damaged pixels
        array = decode_in_child(raw, frames, shape, plugin)
    if frames == 1:
        return replace(image, pixels=array)
    return replace(image, pixels=array[0], stack=array)


def _declared(ds: Dataset) -> tuple[int, tuple[int, ...]]:
    """The number of frames and the shape of one, as the header declares them, after
    checking what decoding them would cost (nothing is decoded yet).

    Raises:
        DicomError: ``not_dicom`` (missing or impossible values), ``dicom_too_large``.
    """
    try:
        rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 8) or 8)
    except _VALUE_ERRORS as exc:
        raise DicomError("not_dicom", f"unreadable image dimensions: {exc}") from exc
    if rows < 1 or columns < 1 or frames < 1 or not 1 <= bits <= 64:
        detail = f"{rows}x{columns}, {frames} frames of {bits} bits"
        raise DicomError("not_dicom", f"impossible image dimensions: {detail}")
    if samples not in (1, 3):
        raise DicomError("dicom_unsupported", f"{samples} samples per pixel")
    if frames > MAX_FRAMES:
        raise DicomError(TOO_LARGE, f"{frames} frames is over {MAX_FRAMES}")
    if rows * columns > MAX_FRAME_PIXELS:
        raise DicomError(TOO_LARGE, f"{rows}x{columns} pixels is over {MAX_FRAME_PIXELS}")
    item = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8
    decoded = rows * columns * samples * item * frames
    if decoded > MAX_PIXEL_BYTES:
        raise DicomError(TOO_LARGE, f"{decoded} decoded bytes is over {MAX_PIXEL_BYTES}")
    return frames, (rows, columns) if samples == 1 else (rows, columns, samples)


def decode_checked(
    ds: Dataset, frames: int, shape: tuple[int, ...], plugin: str
) -> NDArray[np.generic]:
    """:func:`_decode`, its failures told as :class:`DicomError` (run in this process, or in
    the child of :mod:`capture.dicom_isolated`)."""
    try:
        return _decode(ds, frames, shape, plugin)
    except (
        RuntimeError,
        NotImplementedError,
        ValueError,
        KeyError,
        IndexError,
        OverflowError,
    ) as exc:
        # a decoder is there: the compressed pixels are what is wrong
        raise DicomError("dicom_damaged", f"the pixels cannot be decoded: {exc}") from exc
    except (AttributeError, TypeError, OSError, struct.error) as exc:
        raise DicomError("not_dicom", f"corrupt pixel data: {exc}") from exc


def _decode(ds: Dataset, frames: int, shape: tuple[int, ...], plugin: str) -> NDArray[np.generic]:
    """Every frame, decoded one at a time into one stack ((frames, *shape); ``shape`` for a
    single frame) by pydicom's ``plugin`` (``""``: the first that succeeds). The stack is
    allocated once the first frame tells its type.

    JPEG 2000 goes through pydicom's whole-image decoding, which also decodes one frame at a
    time into one array: pydicom 3.0's frame iterator cannot correct a JPEG 2000 stream
    whose signedness differs from the dataset's (its frame is read-only).
    """
    if ds.file_meta.get("TransferSyntaxUID", "") in JPEG2000TransferSyntaxes:
        array = pixel_array(ds, decoding_plugin=plugin)
        if array.shape != ((frames, *shape) if frames > 1 else shape):
            raise DicomError("dicom_unsupported", f"pixels of {array.shape} for {shape}")
        return array
    stack: NDArray[np.generic] | None = None
    count = 0
    for frame in iter_pixels(ds, decoding_plugin=plugin):
        if frame.shape != shape:
            raise DicomError("dicom_unsupported", f"a frame of {frame.shape}, not {shape}")
        if frames == 1:
            return frame
        if stack is None:
            stack = np.empty((frames, *shape), dtype=frame.dtype)
        if count == frames:
            raise DicomError("dicom_damaged", f"more than the {frames} frames announced")
        stack[count] = frame
        count += 1
    if stack is None or count != frames:
        raise DicomError("dicom_damaged", f"{count} frames decoded of the {frames} announced")
    return stack


def _first(value: object) -> float:
    """The first of a multi-valued DS (a file may hold several windows)."""
    if isinstance(value, abc.Sequence) and not isinstance(value, str | bytes):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def _window(ds: Dataset) -> tuple[float, float] | None:
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None or centre == "" or width == "":
        return None
    try:
        c, w = _first(centre), _first(width)
    except (TypeError, ValueError, IndexError):
        return None
    return (c, w) if w >= 1 and math.isfinite(c) and math.isfinite(w) else None


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    value = ds.get("PixelSpacing")
    if value is None or value == "":
        return None
    try:
        row, column = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return row, column


def _to_uint8_colour(pixels: NDArray[np.generic]) -> NDArray[np.uint8]:
    if pixels.dtype == np.uint8:
        return np.asarray(pixels, dtype=np.uint8)
    values = pixels.astype(np.float64)
    top = float(values.max()) or 1.0
    return np.asarray(np.clip(np.rint(values / top * 255.0), 0, 255), dtype=np.uint8)
