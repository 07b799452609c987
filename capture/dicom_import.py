"""DICOM in: any DICOM image, rendered for display with window and level.

:func:`load_dicom` reads any DICOM image (single or multi-frame: ultrasound loops,
tomosynthesis) whose pixels pydicom can decode with what is
installed (uncompressed, RLE, JPEG baseline and extended; through GDCM, ``python-gdcm``, the
JPEG Lossless, JPEG-LS and JPEG 2000 that radiography systems write), and
:func:`window_level` renders it with the DICOM defaults: Rescale Slope/Intercept, then the
file's window (else min/max), and MONOCHROME1 inverted. Of a multi-frame image, the first
frame is shown first; :meth:`DicomImage.with_frame` gives any other.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import warnings
from collections import abc
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder

from capture.errors import DicomError

log = logging.getLogger(__name__)


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
            pixel format that cannot be decoded here).
    """
    try:
        raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise DicomError("unreadable", f"cannot read the file: {exc.strerror}") from exc
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # pydicom warns about damaged files: log, not raise
        ds, array, photometric = _read_pixels(raw)
    for warning in caught:
        log.info("while reading a DICOM file: %s", warning.message)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1))
    stack = None
    if frames > 1:
        if array.ndim != (4 if samples == 3 else 3) or array.shape[0] != frames:
            raise DicomError("dicom_unsupported", f"{frames} frames in a {array.shape} array")
        stack, array = array, array[0]
    if samples == 3 and photometric.startswith("YBR"):
        photometric = "RGB"  # pydicom converts YBR to RGB when it decodes
    if array.ndim != (3 if samples == 3 else 2):
        raise DicomError("dicom_unsupported", f"unexpected pixel array shape {array.shape}")
    return DicomImage(
        pixels=array,
        photometric=photometric,
        rescale_slope=float(ds.get("RescaleSlope", 1) or 1),
        rescale_intercept=float(ds.get("RescaleIntercept", 0) or 0),
        window=_window(ds),
        pixel_spacing=_spacing(ds),
        frames=frames,
        modality=str(ds.get("Modality", "")),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        stack=stack,
    )


def _read_pixels(raw: bytes) -> tuple[Dataset, NDArray[np.generic], str]:
    try:
        ds = dcmread(io.BytesIO(raw))
        has_pixels = "PixelData" in ds
        photometric = str(ds.get("PhotometricInterpretation", ""))
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise DicomError("not_dicom", f"not a readable DICOM file: {exc}") from exc
    except (struct.error, AttributeError, IndexError) as exc:
        raise DicomError("not_dicom", f"corrupt DICOM file: {exc}") from exc
    if len(ds) == 0:
        raise DicomError("not_dicom", "no data element could be read")
    if not has_pixels:
        raise DicomError("dicom_no_pixels", "the DICOM file holds no image")
    syntax = ds.file_meta.get("TransferSyntaxUID", "")
    try:
        decodable = get_decoder(syntax).is_available
    except (NotImplementedError, ValueError) as exc:  # an unknown or unset transfer syntax
        raise DicomError("dicom_unsupported", f"no decoder for {syntax!r}: {exc}") from exc
    if not decodable:
        raise DicomError("dicom_unsupported", f"no installed decoder for {syntax!r}")
    try:
        array = ds.pixel_array
    except (RuntimeError, NotImplementedError, ValueError, KeyError) as exc:
        # a decoder is there: the compressed pixels are what is wrong
        raise DicomError("dicom_damaged", f"the pixels cannot be decoded: {exc}") from exc
    except (AttributeError, TypeError, OSError, struct.error) as exc:
        raise DicomError("not_dicom", f"corrupt pixel data: {exc}") from exc
    return ds, array, photometric


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
