"""A document attached to a request: an exam result, a tracing, a letter, an image.

The doctor attaches PDFs (lab results, ECG tracings, earlier letters, a scanned result),
DICOM images (a radiograph made on site) and photos of a paper result. Each is made safe by
the capture engine before it joins a case (:mod:`capture.documents`): a PDF without active
content nor metadata, a DICOM without the patient's identity, a photo without metadata.
Each has a type (:data:`DOCUMENT_TYPES`), the date of the exam and a short title, and travels
in the sealed bundle as ``documents/<name>``; the manifest lists it (``clinical.documents``,
``docs/bundle-format.md``). Like a photo's, a received document's bytes stay in the sealed
bundle until somebody looks at it (a :class:`cases.photos.Payload`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cases.photos import Payload

#: Document types, in the order the form offers them.
DOCUMENT_TYPES = ("biologie", "ecg", "imagerie", "compte_rendu", "autre")
MAX_DOCUMENTS = 12
MAX_DOCUMENTS_BYTES = 320 * 1024 * 1024
"""The documents of one request, in all: with a dozen photos, the bundle stays well under
what a reader opens (``cases.bundle.MAX_TOTAL_SIZE``, 512 MiB)."""
MAX_TITLE = 120
MEDIA_TYPES = {"pdf": "application/pdf", "dcm": "application/dicom", "jpg": "image/jpeg"}
"""What a document may be, by the suffix of its name in the bundle."""
_NAME = re.compile(r"document-[1-9][0-9]{0,3}\.(pdf|dcm|jpg)")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Document:
    """A document ready to go into a bundle, or read from one.

    Attributes:
        name: ``document-N.pdf``, ``.dcm`` or ``.jpg`` (never the original file name).
        payload: the safe bytes, or what reads them from the sealed bundle.
        kind: one of :data:`DOCUMENT_TYPES` (a code a later version adds is kept as is).
        date: the exam's or the letter's date.
        title: a short title the doctor gave it (at most :data:`MAX_TITLE` characters).
        size, sha256: of the bytes, as the manifest lists them.
        pages: a PDF's page count (1 for an image).
    """

    name: str
    payload: bytes | Payload
    kind: str
    date: dt.date
    title: str
    size: int
    sha256: str
    pages: int = 1

    @classmethod
    def of_bytes(
        cls, name: str, data: bytes, *, kind: str, when: dt.date, title: str, pages: int = 1
    ) -> Document:
        """A new document made of ``data`` (already made safe)."""
        check_name(name)
        if kind not in DOCUMENT_TYPES:
            raise ValueError(f"unknown document type {kind!r}")
        return cls(
            name, data, kind, when, _title(title), len(data), hashlib.sha256(data).hexdigest(),
            max(1, pages),
        )  # fmt: skip

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.name.rsplit(".", 1)[1]]

    @property
    def is_pdf(self) -> bool:
        return self.name.endswith(".pdf")

    @property
    def data(self) -> bytes:
        """The bytes (read from the sealed bundle on each call when not in memory: call it
        off the GUI thread)."""
        payload = self.payload
        return payload if isinstance(payload, bytes) else payload.read()

    def details(self) -> dict[str, object]:
        """What a bundle's manifest says of this document besides its bytes."""
        return {
            "name": self.name,
            "type": self.kind,
            "date": self.date.isoformat(),
            "title": self.title,
            "size": self.size,
            "sha256": self.sha256,
            "pages": self.pages,
        }

    @classmethod
    def from_details(cls, meta: Mapping[str, Any], data: bytes | Payload) -> Document:
        """The document a manifest's entry (:meth:`details`) describes.

        Raises:
            ValueError: the entry is malformed (its size and digest are compared with the
                file's by the bundle reader).
        """
        if not isinstance(meta, Mapping) or set(meta) != {
            "name", "type", "date", "title", "size", "sha256", "pages",
        }:  # fmt: skip
            raise ValueError("a document entry's fields differ from format 1")
        kind, title, digest = meta["type"], meta["title"], meta["sha256"]
        if not isinstance(kind, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", kind):
            raise ValueError("a document's type is not a code")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise ValueError("a document's digest is not 64 hex digits")
        if not isinstance(meta["date"], str) or len(meta["date"]) != 10:
            raise ValueError("a document's date is not YYYY-MM-DD")
        when = dt.date.fromisoformat(meta["date"])
        if not 1900 <= when.year < 2100:
            raise ValueError("a document's date lies outside 1900–2100")
        return cls(
            check_name(meta["name"]), data, kind, when, _title(title),
            _count(meta["size"], zero=True), digest, _count(meta["pages"]),
        )  # fmt: skip


def check_name(name: Any) -> str:
    """``name`` if it is a document's name in a bundle, else ``ValueError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("a document's name is not document-N.pdf, .dcm or .jpg")
    return name


def next_name(existing: tuple[Document, ...], suffix: str) -> str:
    """A neutral name for one more document of ``existing``."""
    taken = {d.name.split(".")[0] for d in existing}
    number = next(n for n in range(1, 10_000) if f"document-{n}" not in taken)
    return f"document-{number}.{suffix}"


def _title(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TITLE:
        raise ValueError(f"a document's title is not a text of at most {MAX_TITLE} characters")
    if any(ord(c) < 32 for c in value):
        raise ValueError("a document's title holds a control character")
    return value


def _count(value: Any, *, zero: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if zero else 1):
        raise ValueError("a document's size or page count is not a whole number")
    return value
