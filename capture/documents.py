"""A document made fit to join a request: a PDF made safe, a DICOM without the patient's
identity, or a photographed paper result without metadata.

:func:`prepare_document` recognises the file by its content (never by its name), prepares it
and says what it removed (:class:`PreparedDocument`); a file it cannot take is refused with
a stable code (:class:`DocumentRefused`, or the capture engine's own errors for an image or
a DICOM). What a document type, a date and a title are is :mod:`cases.documents`' business.

* PDF: :mod:`capture.pdfsafe` (no JavaScript, actions, embedded files, forms, external
  links, Info or XMP; bounded), in a child process bounded in memory and time
  (:mod:`capture.pdf_isolated`).
* DICOM: read within :mod:`capture.dicom_import`'s bounds (the pixels must decode, so the
  specialist can window it), then written again without the elements that identify the
  patient, the staff or the place (DICOM PS3.15's basic profile, the attributes a
  radiography system fills), nor any private element; the pixels are kept as they are.
* A photo of a paper result: "document mode" of :func:`capture.prepare.prepare`, upright,
  sRGB, metadata removed; no face is looked for (a sheet of paper has none).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from capture import pdf_isolated

MAX_IMAGE_BYTES = 60 * 1024 * 1024
PDF, DICOM, IMAGE = "pdf", "dcm", "jpg"

NOT_A_DOCUMENT = "not_a_document"
"""Neither a PDF, a DICOM file nor an image the capture station reads."""
EMPTY = "empty_file"

# DICOM elements that identify the patient, the staff, the place or the device
# (DICOM PS3.15 annex E, basic profile: the attributes radiography systems fill).
_DICOM_IDENTIFYING = (
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName", "PatientBirthDate",
    "PatientBirthTime", "PatientSex", "PatientAge", "PatientSize", "PatientWeight",
    "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName", "MilitaryRank",
    "EthnicGroup", "Occupation", "AdditionalPatientHistory", "PatientComments",
    "MedicalRecordLocator", "ReferencedPatientSequence", "PatientInsurancePlanCodeSequence",
    "ReferringPhysicianName", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "OperatorsName",
    "PhysiciansOfRecord", "RequestingPhysician", "ScheduledPerformingPhysicianName",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "AccessionNumber", "StudyID", "RequestAttributesSequence",
    "OtherPatientIDsSequence", "ImageComments", "StudyComments", "RequestedProcedureID",
    "PerformedProcedureStepID", "ScheduledProcedureStepID", "AdmissionID",
    "CurrentPatientLocation", "PatientState", "ResponsiblePerson", "ResponsibleOrganization",
)  # fmt: skip


class DocumentRefused(Exception):
    """A file that cannot become a document; ``code`` is stable, the message English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PreparedDocument:
    """A document's safe bytes.

    Attributes:
        suffix: ``pdf``, ``dcm`` or ``jpg`` (the name it travels under ends so).
        data: the bytes to seal.
        pages: a PDF's page count (1 otherwise).
        removed: codes of what was removed: :data:`capture.pdfsafe.REMOVED`, ``dicom_identity``
            and ``dicom_private``, or the image metadata codes of
            :func:`capture.loading.found_metadata`.
    """

    suffix: str
    data: bytes
    pages: int
    removed: tuple[str, ...]


def kind_of(data: bytes) -> str | None:
    """``pdf``, ``dcm`` or ``jpg`` (any image) by the bytes themselves, or ``None``."""
    if b"%PDF-" in data[:1024]:
        return PDF
    if data[128:132] == b"DICM":
        return DICOM
    if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
        return IMAGE
    if data[:4] in (b"II*\x00", b"MM\x00*") or data[4:12] in (b"ftypheic", b"ftypmif1"):
        return IMAGE
    return None


def prepare_document(data: bytes) -> PreparedDocument:
    """The safe form of ``data`` and what was removed from it.

    Raises:
        DocumentRefused: ``empty_file`` or ``not_a_document``.
        capture.pdfsafe.PdfRefused: a PDF that cannot be made safe.
        capture.errors.DicomError: a DICOM file that cannot be read.
        capture.errors.CaptureError: an image that cannot be read.
    """
    if not data:
        raise DocumentRefused(EMPTY, "the file is empty")
    kind = kind_of(data)
    if kind == PDF:
        safe = pdf_isolated.make_safe(data)  # qpdf's work bounded in memory and time
        return PreparedDocument(PDF, safe.data, safe.report.pages, safe.report.removed)
    if kind == DICOM:
        return _dicom(data)
    if kind == IMAGE:
        return _photo(data)
    raise DocumentRefused(NOT_A_DOCUMENT, "neither a PDF, a DICOM file nor an image")


def _photo(data: bytes) -> PreparedDocument:
    from capture.errors import IMAGE_TOO_LARGE, CaptureError
    from capture.loading import load_image
    from capture.prepare import prepare

    if len(data) > MAX_IMAGE_BYTES:
        raise CaptureError(IMAGE_TOO_LARGE, f"{len(data)} bytes")
    prepared = prepare(load_image(data), anonymise=False)  # document mode: no faces sought
    return PreparedDocument(IMAGE, prepared.data, 1, prepared.report.metadata_removed)


def _dicom(data: bytes) -> PreparedDocument:
    from pydicom import dcmread

    from capture.dicom_import import load_dicom
    from capture.errors import DicomError

    load_dicom(data)  # within its bounds, and the pixels decode
    try:
        ds = dcmread(io.BytesIO(data))
        removed = []
        found = [name for name in dict.fromkeys(_DICOM_IDENTIFYING) if name in ds]
        for name in found:
            delattr(ds, name)
        if found:
            removed.append("dicom_identity")
        private = any(element.tag.is_private for element in ds.iterall())
        if private:
            ds.remove_private_tags()
            removed.append("dicom_private")
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "Passavant: PS3.15 basic profile subset"
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise DicomError("not_dicom", f"cannot rewrite: {type(exc).__name__}") from exc
    return PreparedDocument(DICOM, out.getvalue(), 1, tuple(removed))
