"""DICOM out: a clinical photo as VL Photographic Image Storage.

:func:`to_dicom` wraps a **baseline** JPEG without recompressing it: the JPEG's metadata
segments (APP1–APP15: EXIF, GPS, XMP, maker notes…; COM) are dropped, its ICC profile moves
to ICC Profile (0028,2000), and the entropy-coded data is encapsulated byte for byte
(:func:`capture.jpeg.clean_jpeg`). A progressive, arithmetic-coded, 12-bit, RGB-coded or
EXIF-rotated JPEG is *refused* with a typed error (code ``jpeg_not_baseline`` or
``jpeg_rotated``) rather than silently re-encoded: :func:`capture.jpeg.baseline_jpeg`
re-encodes any image once, upright and clean, for callers that choose to (the ``photo
to-dicom`` command does, and says so).

When a marker calibration is given, Pixel Spacing is the spacing *at the marker*, in its
plane; it holds across the whole photo only for a fronto-parallel shot, and Image Comments
say how far the scale drifts across a tilted one.

Viewing DICOM files is :mod:`capture.dicom_import`'s.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import UID, JPEGBaseline8Bit, generate_uid

from capture.errors import DicomError
from capture.jpeg import clean_jpeg
from capture.measure import Calibration, Measurement

log = logging.getLogger(__name__)

VL_PHOTOGRAPHIC = UID("1.2.840.10008.5.1.4.1.1.77.1.4")
MANUFACTURER = "Passavant"
MAX_REF_LENGTH = 64


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
