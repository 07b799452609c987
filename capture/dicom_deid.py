"""A DICOM file de-identified by DICOM PS3.15's Basic Application Level Confidentiality
Profile, so that it carries nothing beyond what the request carries on purpose.

The patient's identity travels inside the sealed request (issue 19), so the file itself must
name nobody and nothing: no staff, no institution, no device serial, no accession number, no
other identifier, no free-text comment, nothing in nested sequences or private elements, and
UIDs that cannot be joined back to the hospital's PACS. :func:`deidentify` applies PS3.15
Annex E's Table E.1-1 (:mod:`capture.dicom_profile`: which edition, which options, how the
combined actions are resolved) to every element, recursively into every sequence kept:

* every private element is removed (no Retain Safe Private option);
* UIDs are replaced by ``2.25.<n>``, ``n`` the 128 bits of an HMAC-SHA-256 of the original
  under a secret key (a UUID's form). The same original gives the same new UID under one
  key, so several images of one study stay one study, and nobody without the key can tell
  which original a new UID came from. The key is one random key per process unless the
  caller scopes one per request (:func:`request_key`);
* the file meta information is written anew (no source AE title, no private information);
* ``PatientIdentityRemoved`` = ``YES``, ``DeidentificationMethod`` and
  ``DeidentificationMethodCodeSequence`` (CID 7050: 113100, 113107, 113108) say what was
  done, and ``LongitudinalTemporalInformationModified`` = ``MODIFIED``.

The pixels are kept as they are and never OCR'd: text burned into them (a name on an
ultrasound, a secondary capture) stays. When ``BurnedInAnnotation`` is ``YES``, or absent
for a modality known to burn text (US, SC, XA, ES, and secondary-capture SOP classes), the
result says so (:data:`BURNED_IN_TEXT`) so that the doctor is told plainly: a warning, not a
refusal.

Cost is bounded: the file is counted before pydicom parses it
(:func:`capture.dicom_structure.check_structure`), and each sequence of defined length, which
pydicom parses only when it is walked, is counted the same way first, against one budget of
:data:`capture.dicom_structure.MAX_ELEMENTS` and :data:`~capture.dicom_structure.MAX_NESTING`
levels.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID

from capture.dicom_profile import action_for
from capture.dicom_structure import MAX_ELEMENTS, MAX_NESTING, TOO_LARGE, _Census, check_structure
from capture.documents import DICOM, PreparedDocument
from capture.errors import DicomError

BURNED_IN_TEXT = "dicom_burned_in_text"
"""Warning code: the pixels may show text (a name, a date, a place) that is not removed."""
IDENTITY, PRIVATE = "dicom_identity", "dicom_private"
"""Codes of what was removed (:attr:`capture.documents.PreparedDocument.removed`)."""
MAX_FILE_BYTES = 320 * 1024 * 1024
"""The largest file taken (``capture.dicom_import.MAX_FILE_BYTES``)."""
BURNING_MODALITIES = frozenset({"US", "SC", "XA", "ES"})
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_DICOM_ROOT = "1.2.840.10008."
_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
)
_METHOD = ("PS3.15 Basic Profile", "Retain Patient Characteristics", "Modified Dates: times 0")
_DUMMY_TEXT = "ANONYMIZED"
_DUMMIES: dict[str, Any] = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    **dict.fromkeys(("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"), 0),
    **dict.fromkeys(("AE", "CS", "LO", "SH", "PN", "LT", "ST", "UT", "UC"), _DUMMY_TEXT),
}

_SESSION_KEY = secrets.token_bytes(32)
_REQUEST_KEY: ContextVar[bytes | None] = ContextVar("passavant_dicom_uid_key", default=None)


@dataclass(frozen=True)
class Deidentified:
    """A de-identified DICOM file.

    Attributes:
        data: the file's new bytes.
        removed: :data:`IDENTITY` and/or :data:`PRIVATE` when something was removed or
            replaced.
        warnings: :data:`BURNED_IN_TEXT` when the pixels may show text.
    """

    data: bytes
    removed: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class DicomDocument(PreparedDocument):
    """A prepared DICOM document, with what the doctor must be told about it.

    Attributes:
        warnings: codes (:data:`BURNED_IN_TEXT`); ``app.document_texts.warning_lines`` says
            them in plain words.
    """

    warnings: tuple[str, ...] = ()


def new_request_key() -> bytes:
    """A fresh secret for the UIDs of one request's documents."""
    return secrets.token_bytes(32)


@contextmanager
def request_key(key: bytes) -> Iterator[None]:
    """Within this block (on this thread), UIDs are replaced under ``key``: give every
    document of one request the same key so that its images of one study stay one study."""
    token = _REQUEST_KEY.set(key)
    try:
        yield
    finally:
        _REQUEST_KEY.reset(token)


def current_key() -> bytes:
    """The key of the enclosing :func:`request_key`, else this process's own."""
    return _REQUEST_KEY.get() or _SESSION_KEY


def new_uid(original: str, key: bytes) -> str:
    """``2.25.<n>``: ``n`` a UUID made of the HMAC-SHA-256 of ``original`` under ``key``."""
    digest = hmac.new(key, original.encode("ascii", "replace"), hashlib.sha256).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def document(data: bytes, key: bytes | None = None) -> DicomDocument:
    """:func:`deidentify` as a prepared document (``capture.documents``' DICOM)."""
    done = deidentify(data, current_key() if key is None else key)
    return DicomDocument(DICOM, done.data, 1, done.removed, done.warnings)


def deidentify(data: bytes, key: bytes) -> Deidentified:
    """``data`` de-identified (see the module), its UIDs replaced under ``key``.

    Raises:
        DicomError: ``dicom_too_large`` past the bounds, ``not_dicom`` for a file that
            cannot be read or written again.
    """
    if len(data) > MAX_FILE_BYTES:
        raise DicomError(TOO_LARGE, f"{len(data)} bytes")
    check_structure(data, MAX_FILE_BYTES)
    try:
        ds = dcmread(io.BytesIO(data))
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2.1"))
        walk = _Walk(
            key, little=syntax != "1.2.840.10008.1.2.2", implicit=syntax == "1.2.840.10008.1.2"
        )
        warnings = (BURNED_IN_TEXT,) if _may_burn_text(ds) else ()
        walk.dataset(ds, 0)
        _declare(ds)
        ds.file_meta = _file_meta(ds, syntax)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
    except DicomError:
        raise
    except (InvalidDicomError, ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise DicomError("not_dicom", f"cannot de-identify: {type(exc).__name__}") from exc
    removed = tuple(
        code for code, done in ((IDENTITY, walk.identity), (PRIVATE, walk.private)) if done
    )
    return Deidentified(out.getvalue(), removed, warnings)


def _may_burn_text(ds: Dataset) -> bool:
    burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned:
        return burned != "NO"
    modality = str(ds.get("Modality", "") or "").strip().upper()
    sop_class = str(ds.get("SOPClassUID", "") or "")
    secondary = sop_class == _SECONDARY_CAPTURE or sop_class.startswith(_SECONDARY_CAPTURE + ".")
    return modality in BURNING_MODALITIES or secondary


class _Walk:
    """One pass over a dataset, applying :func:`capture.dicom_profile.action_for`."""

    def __init__(self, key: bytes, *, little: bool, implicit: bool) -> None:
        self.key = key
        self.little = little
        self.implicit = implicit
        self.left = MAX_ELEMENTS
        self.identity = False
        self.private = False

    def dataset(self, ds: Dataset, depth: int) -> None:
        for tag in list(ds.keys()):
            self.left -= 1
            if self.left < 0:
                raise DicomError(TOO_LARGE, f"more than {MAX_ELEMENTS} data elements to clean")
            raw = ds.get_item(tag)
            vr = str(raw.VR) if raw is not None and raw.VR else None
            action = action_for(int(tag), vr)
            if action != "X" and _is_sequence(int(tag), vr):
                self.count_sequence(raw, depth)
            element = None if action == "X" else ds[tag]
            if element is None or (action == "T" and element.VR not in ("DA", "DT", "TM")):
                self.identity |= not tag.is_private
                self.private |= tag.is_private
                del ds[tag]
            elif element.VR == "SQ":
                self.sequence(element, action, depth)
            elif action != "K":
                self.element(element, action)

    def count_sequence(self, raw: DataElement | RawDataElement | None, depth: int) -> None:
        """Count what pydicom will parse of a sequence of defined length, before it does."""
        if not isinstance(raw, RawDataElement) or not isinstance(raw.value, bytes):
            return
        census = _Census(raw.value, little=self.little)
        census.left = self.left
        census.sequence(0, depth + 1, implicit=self.implicit)
        self.left = census.left

    def sequence(self, element: DataElement, action: str, depth: int) -> None:
        if action in ("Z", "D"):
            self.identity |= bool(element.value)
            element.value = Sequence([])
            return
        if depth + 1 > MAX_NESTING:
            raise DicomError(TOO_LARGE, f"sequences nested more than {MAX_NESTING} deep")
        for item in element.value:
            self.dataset(item, depth + 1)

    def element(self, element: DataElement, action: str) -> None:
        values = _values(element)
        if action == "Z":
            changed: list[Any] = []
        elif action == "D":
            changed = [self.dummy(element, v) for v in values] or [self.dummy(element, None)]
        elif action == "T":
            changed = [_modified_date(str(element.VR), str(v)) for v in values]
        else:  # U, Q
            changed = [self.uid(str(v)) for v in values]
        if changed == values:
            return
        self.identity = True
        if not changed or None in changed:
            element.value = None  # zero length (a dummy of a binary VR, too)
        else:
            element.value = changed if len(changed) > 1 else changed[0]

    def dummy(self, element: DataElement, value: object) -> object:
        if element.VR == "UI":
            return self.uid(str(value or ""))
        return _DUMMIES.get(str(element.VR))

    def uid(self, value: str) -> str:
        value = value.strip("\0 ")
        if not value or value.startswith(_DICOM_ROOT):
            return value  # empty, or a UID the standard itself defines
        return new_uid(value, self.key)


def _is_sequence(tag: int, vr: str | None) -> bool:
    if vr == "SQ":
        return True
    if vr not in (None, "UN"):
        return False
    try:
        return str(dictionary_VR(tag)) == "SQ"
    except KeyError:
        return False


def _values(element: DataElement) -> list[Any]:
    value = element.value
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, MultiValue | list):
        return list(value)
    return [value]


def _modified_date(vr: str, value: str) -> str:
    """Retain Longitudinal Temporal Information, our Modified Dates: a date kept, a time at
    midnight, a date-time reduced to its date; nothing else kept."""
    if vr == "DA":
        return value
    if vr == "TM":
        return "000000"
    return value.strip()[:8]  # DT


def _declare(ds: Dataset) -> None:
    """What was done, in the attributes PS3.15 names for it."""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = list(_METHOD)
    codes = []
    for value, meaning in _METHOD_CODES:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    ds.LongitudinalTemporalInformationModified = "MODIFIED"


def _file_meta(ds: Dataset, syntax: str) -> FileMetaDataset:
    """New file meta information: class, instance (the new one) and transfer syntax only."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(syntax)
    return meta
