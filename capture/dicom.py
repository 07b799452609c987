"""DICOM out and in: a clinical photo as VL Photographic Image Storage, and any image to view.

Export (:func:`to_dicom`) wraps a **baseline** JPEG without recompressing it: the JPEG's
metadata segments (APP1–APP15: EXIF, GPS, XMP, maker notes…; COM) are dropped, its ICC profile
moves to ICC Profile (0028,2000), and the entropy-coded data is encapsulated byte for byte.
A progressive, arithmetic-coded, 12-bit, RGB-coded or EXIF-rotated JPEG is *refused* with a
typed error (code ``jpeg_not_baseline`` or ``jpeg_rotated``) rather than silently re-encoded:
:func:`baseline_jpeg` re-encodes any image once, upright and clean, for callers that choose
to (the ``photo to-dicom`` command does, and says so).

When a marker calibration is given, Pixel Spacing is the spacing *at the marker*, in its
plane; it holds across the whole photo only for a fronto-parallel shot, and Image Comments
say how far the scale drifts across a tilted one.

Import (:func:`load_dicom`) reads any single-image DICOM whose pixels pydicom can decode with
what is installed (uncompressed, RLE, JPEG baseline/extended and JPEG 2000 through Pillow;
not JPEG lossless nor JPEG-LS, which need pylibjpeg or GDCM) and renders it for display with
the DICOM defaults: Rescale Slope/Intercept, then the file's window (else min/max), and
MONOCHROME1 inverted.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import struct
import warnings
from collections import abc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import UID, JPEGBaseline8Bit, generate_uid

from capture.measure import BOMBS, MAX_PIXELS, Calibration, Measurement

log = logging.getLogger(__name__)

VL_PHOTOGRAPHIC = UID("1.2.840.10008.5.1.4.1.1.77.1.4")
MANUFACTURER = "Passavant"
JPEG_QUALITY = 92
MAX_REF_LENGTH = 64


class DicomError(Exception):
    """A DICOM could not be written or read. ``code`` is stable; the message is English.

    Codes: ``not_a_jpeg``, ``jpeg_not_baseline``, ``jpeg_rotated``, ``not_an_image``,
    ``bad_patient_ref``, ``unknown_site``, ``not_dicom``, ``dicom_no_pixels``,
    ``dicom_unsupported``, ``unreadable``.
    """

    code = "dicom_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Site:
    """An anatomic site: its SNOMED CT code (when one fits surely) and its laterality."""

    snomed: str | None
    meaning: str | None
    laterality: str  # DICOM Image Laterality: R, L, U (unpaired) or B


# The capture engine's body-site codes (``capture.photo.BODY_SITES``), with SNOMED CT codes as
# DICOM PS3.16 lists them (CID 4031 "Common Anatomic Regions"; pydicom ships the same table and
# the tests compare). The genital area and "autre" carry no code: no single sex-neutral DICOM
# concept fits surely, and an absent Anatomic Region Sequence is valid.
SITES: dict[str, Site] = {
    "visage": Site("89545001", "Face", "U"),
    "cuir_chevelu": Site("41695006", "Scalp", "U"),
    "cou": Site("45048000", "Neck", "U"),
    "thorax": Site("816094009", "Thorax", "U"),
    "abdomen": Site("818981001", "Abdomen", "U"),
    "dos": Site("77568009", "Back", "U"),
    "membre_superieur_droit": Site("53120007", "Upper limb", "R"),
    "membre_superieur_gauche": Site("53120007", "Upper limb", "L"),
    "main_droite": Site("85562004", "Hand", "R"),
    "main_gauche": Site("85562004", "Hand", "L"),
    "membre_inferieur_droit": Site("61685007", "Lower limb", "R"),
    "membre_inferieur_gauche": Site("61685007", "Lower limb", "L"),
    "pied_droit": Site("56459004", "Foot", "R"),
    "pied_gauche": Site("56459004", "Foot", "L"),
    "organes_genitaux": Site(None, None, "U"),
    "autre": Site(None, None, "U"),
}
LATERALITY_CODES = {"R": ("24028007", "Right"), "L": ("7771000", "Left")}


# --------------------------------------------------------------------------- JPEG handling


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
    if not image:
        raise DicomError("not_an_image", "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise DicomError("not_an_image", f"{img.width}x{img.height} is too large")
                img.load()
                icc = img.info.get("icc_profile")
                upright = ImageOps.exif_transpose(img)
                mode = "L" if upright.mode in ("1", "L", "I;16", "I", "F") else "RGB"
                converted = upright.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, *BOMBS) as exc:
        raise DicomError("not_an_image", f"not a readable image: {exc}") from exc
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "optimize": True, "progressive": False}
    if icc:
        options["icc_profile"] = icc
    converted.save(out, "JPEG", **options)
    return out.getvalue()


# --------------------------------------------------------------------------- export


def to_dicom(
    jpeg_bytes: bytes,
    *,
    patient_ref: str,
    site: str | None = None,
    measurement: Measurement | None = None,
    calibration: Calibration | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    now: dt.datetime | None = None,
    instance_number: int = 1,
) -> bytes:
    """A VL Photographic Image Storage DICOM file (Part 10 bytes) wrapping the JPEG as is.

    Args:
        jpeg_bytes: a baseline JPEG (see :func:`clean_jpeg`; :func:`baseline_jpeg` makes one).
        patient_ref: the pseudonymous patient reference; it goes into Patient ID and
            Patient's Name (never a real name).
        site: a body-site code of :data:`SITES`, for Anatomic Region Sequence and Image
            Laterality (``U`` without a site).
        measurement: summarised in Image Comments.
        calibration: the marker calibration of this very image; gives Pixel Spacing.
        study_uid, series_uid: to group several photos; new UIDs otherwise.
        now: acquisition time (tests pass a fixed one); timezone-aware gives the offset.

    Raises:
        DicomError: the codes of :func:`clean_jpeg`, ``bad_patient_ref``, ``unknown_site``.
    """
    ref = _check_ref(patient_ref)
    if site is not None and site not in SITES:
        raise DicomError("unknown_site", f"unknown body site {site!r}")
    jpeg = clean_jpeg(jpeg_bytes)
    _check_decodes(jpeg.data)
    moment = now or dt.datetime.now().astimezone()
    sop_uid = generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = VL_PHOTOGRAPHIC
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = JPEGBaseline8Bit

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = VL_PHOTOGRAPHIC
    ds.SOPInstanceUID = sop_uid
    _dates(ds, moment)
    ds.AccessionNumber = ""
    ds.Modality = "XC"
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER
    ds.ReferringPhysicianName = ""
    ds.PatientName = f"{ref}^"  # the reference as family name: never a real name
    ds.PatientID = ref
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = _uid(study_uid)
    ds.SeriesInstanceUID = _uid(series_uid)
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    chosen = SITES[site] if site is not None else None
    ds.ImageLaterality = chosen.laterality if chosen else "U"
    if chosen is not None and chosen.snomed is not None and chosen.meaning is not None:
        ds.AnatomicRegionSequence = Sequence(
            [_region(chosen.snomed, chosen.meaning, chosen.laterality)]
        )
    if site == "visage":
        ds.RecognizableVisualFeatures = "YES"
    ds.AcquisitionContextSequence = Sequence()
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"

    ds.Rows = jpeg.height
    ds.Columns = jpeg.width
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if jpeg.components == 3:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PlanarConfiguration = 0
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    if jpeg.icc_profile:
        ds.ICCProfile = jpeg.icc_profile

    comments = []
    if calibration is not None:
        row, column = calibration.spacing_at_marker()
        ds.PixelSpacing = [_ds(row), _ds(column)]
        comments.append(_spacing_note(calibration, jpeg.width, jpeg.height))
    if measurement is not None:
        comments.append(_measurement_note(measurement))
    if comments:
        ds.ImageComments = " ".join(comments)

    ds.PixelData = encapsulate([jpeg.data])
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _check_decodes(jpeg: bytes) -> None:
    """Decode once: a damaged stream must not travel inside a valid-looking DICOM."""
    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DicomError("not_an_image", f"the JPEG does not decode: {exc}") from exc


def _check_ref(patient_ref: str) -> str:
    ref = patient_ref.strip()
    if not ref or len(ref) > MAX_REF_LENGTH:
        raise DicomError("bad_patient_ref", "the patient reference must be 1-64 characters")
    if any(c in ref for c in "^=\\") or any(ord(c) < 32 for c in ref):
        raise DicomError("bad_patient_ref", "the patient reference has a forbidden character")
    return ref


def _uid(value: str | None) -> UID:
    if value is None:
        return generate_uid()
    uid = UID(value)
    if not uid.is_valid:
        raise ValueError(f"not a valid DICOM UID: {value!r}")
    return uid


def _dates(ds: Dataset, moment: dt.datetime) -> None:
    date, time = moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")
    ds.StudyDate = ds.ContentDate = date
    ds.StudyTime = ds.ContentTime = time
    ds.AcquisitionDateTime = date + time
    offset = moment.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        ds.TimezoneOffsetFromUTC = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "SCT"
    item.CodeMeaning = meaning
    return item


def _region(snomed: str, meaning: str, laterality: str) -> Dataset:
    item = _code(snomed, meaning)
    if laterality in LATERALITY_CODES:
        item.AnatomicRegionModifierSequence = Sequence([_code(*LATERALITY_CODES[laterality])])
    return item


def _ds(value: float) -> str:
    """A DS value (at most 16 characters)."""
    return f"{value:.10g}"[:16]


def _spacing_note(cal: Calibration, width: int, height: int) -> str:
    """How far the scale at the marker holds across this photo."""
    at_marker = cal.scale_at(*cal.centre_px) or 0.0
    drift = 0.0
    for x, y in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)):
        local = cal.scale_at(x, y)
        if local is None or at_marker <= 0:
            drift = math.inf
            break
        drift = max(drift, abs(local / at_marker - 1.0))
    text = (
        f"Pixel Spacing : échelle au marqueur de {cal.marker_mm:g} mm (id {cal.marker_id}), "
        "valable dans le plan du marqueur et près de lui."
    )
    if drift > 0.02:
        shown = "plus de 100" if not math.isfinite(drift) else f"{drift * 100:.0f}"
        text += f" Photo non frontale : l’échelle varie jusqu’à {shown} % dans l’image."
    return text


def _measurement_note(m: Measurement) -> str:
    def number(value: float) -> str:
        return f"{value:.1f}".replace(".", ",")

    if m.calibrated:
        if m.kind == "line":
            return f"Mesure étalonnée : longueur {number(m.length)} mm."
        return (
            f"Mesure étalonnée : surface {number(m.area or 0.0)} cm², plus grande longueur "
            f"{number(m.length)} mm, périmètre {number(m.perimeter or 0.0)} mm."
        )
    if m.kind == "line":
        return f"Mesure non étalonnée (aucun marqueur) : longueur {number(m.length)} px."
    return (
        f"Mesure non étalonnée (aucun marqueur) : surface {number(m.area or 0.0)} px², "
        f"plus grande longueur {number(m.length)} px."
    )


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class DicomImage:
    """The first frame of a DICOM image, as stored, and what is needed to display it.

    ``pixels`` holds stored values ((rows, columns) for grey, (rows, columns, 3) for colour,
    which pydicom gives as RGB, converted from YBR when needed); ``photometric`` describes
    ``pixels`` after that conversion.
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

    @property
    def is_colour(self) -> bool:
        return self.pixels.ndim == 3

    def modality_values(self) -> NDArray[np.float64]:
        """Stored values through Rescale Slope and Intercept (e.g. Hounsfield units)."""
        values = self.pixels.astype(np.float64)
        return values * self.rescale_slope + self.rescale_intercept

    def display(self) -> NDArray[np.uint8]:
        """An 8-bit image to show: colour as is; grey through the VOI window, then
        MONOCHROME1 inverted. The window is the file's first, else the values' min/max."""
        if self.is_colour:
            return _to_uint8_colour(self.pixels)
        values = self.modality_values()
        if self.window is not None:
            centre, width = self.window
        else:
            low, high = float(values.min()), float(values.max())
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
    """Read a DICOM file (bytes or a path) and decode its first frame.

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
    if frames > 1:
        array = array[0]
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
    try:
        array = ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        raise DicomError("dicom_unsupported", f"cannot decode these pixels: {exc}") from exc
    except (ValueError, KeyError, AttributeError, TypeError, OSError, struct.error) as exc:
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
