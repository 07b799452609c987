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
  specialist can window it), then de-identified by DICOM PS3.15's basic application level
  confidentiality profile, whole, into sequences, with UIDs replaced under a key
  (:mod:`capture.dicom_deid`); the pixels are kept as they are, and text burned into them
  is warned of.
* A photo of a paper result: "document mode" of :func:`capture.prepare.prepare`, upright,
  sRGB, metadata removed; no face is looked for (a sheet of paper has none).

:func:`pages_document` makes one document of the pages of a paper result photographed in the
capture station's document mode: one page stays a JPEG (as a photographed result attached
as a file), several become one PDF whose pages are those JPEGs, embedded as they are (no
recompression), each on a page of an A4's long side, with nothing else in it: no Info, no
XMP, no action. A PDF because a bundle's document is one file and the reader already turns
a PDF's pages (``widgets/pdfview.py``); the bundle format and the reader stay as they are.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capture import pdf_isolated

if TYPE_CHECKING:
    from capture.loading import LoadedImage

MAX_IMAGE_BYTES = 60 * 1024 * 1024
MAX_PAGES = 20
"""Pages of one document photographed in the capture station: a long paper result fits; each
page waits in memory, uncompressed, until the document joins the request."""
PAGE_LONG_SIDE_PT = 842.0
"""A page's long side in the PDF made of photographed pages: an A4's (297 mm), so that it
prints at the size of the paper photographed."""
PDF, DICOM, IMAGE = "pdf", "dcm", "jpg"

NOT_A_DOCUMENT = "not_a_document"
"""Neither a PDF, a DICOM file nor an image the capture station reads."""
EMPTY = "empty_file"
TOO_MANY_PAGES = "too_many_pages"
"""More pages than :data:`MAX_PAGES` for one document."""


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
    from capture.dicom_deid import document
    from capture.dicom_import import load_dicom

    load_dicom(data)  # within its bounds, and the pixels decode
    return document(data)  # DICOM PS3.15's basic profile, whole (capture/dicom_deid.py)


def pages_document(pages: Sequence[LoadedImage]) -> PreparedDocument:
    """One document of the photographed pages of a paper result, in order (worker thread).

    Each page is prepared as a document photo (upright, sRGB, long edge capped, no
    metadata, no face sought); one page is a JPEG, several a PDF of those JPEGs (see the
    module). The PDF never exceeds what a reader accepts (:data:`capture.pdfsafe.MAX_BYTES`):
    pages are prepared one after the other and the work stops at the first page past it.

    Raises:
        DocumentRefused: no page (``empty_file``), more than :data:`MAX_PAGES`
            (``too_many_pages``), or a PDF larger than a reader accepts (``pdf_too_large``).
    """
    from capture.pdfsafe import MAX_BYTES, TOO_LARGE
    from capture.prepare import prepare

    if not pages:
        raise DocumentRefused(EMPTY, "no page")
    if len(pages) > MAX_PAGES:
        raise DocumentRefused(TOO_MANY_PAGES, f"{len(pages)} pages, at most {MAX_PAGES}")
    jpegs, removed, total = [], [], 0
    for page in pages:
        prepared = prepare(page, anonymise=False)  # document mode: no faces sought
        total += len(prepared.data)
        if total > MAX_BYTES:
            raise DocumentRefused(TOO_LARGE, f"the pages exceed {MAX_BYTES} bytes")
        jpegs.append((prepared.data, prepared.width, prepared.height))
        removed += [c for c in prepared.report.metadata_removed if c not in removed]
    if len(jpegs) == 1:
        return PreparedDocument(IMAGE, jpegs[0][0], 1, tuple(removed))
    data = _pdf_of_jpegs(jpegs)
    if len(data) > MAX_BYTES:
        raise DocumentRefused(TOO_LARGE, f"the PDF exceeds {MAX_BYTES} bytes")
    return PreparedDocument(PDF, data, len(jpegs), tuple(removed))


def _pdf_of_jpegs(jpegs: Sequence[tuple[bytes, int, int]]) -> bytes:
    """A PDF with one page per baseline JPEG (``data``, ``width``, ``height``), embedded as
    it is (``DCTDecode``), filling a page whose long side is :data:`PAGE_LONG_SIDE_PT`."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name

    pdf = pikepdf.new()
    for data, width, height in jpegs:
        scale = PAGE_LONG_SIDE_PT / max(width, height)
        page_w, page_h = round(width * scale, 2), round(height * scale, 2)
        image = pikepdf.Stream(pdf, data)
        image.Type, image.Subtype = Name.XObject, Name.Image
        image.Width, image.Height, image.BitsPerComponent = width, height, 8
        image.ColorSpace, image.Filter = Name.DeviceRGB, Name.DCTDecode
        drawing = pikepdf.Stream(pdf, f"q {page_w} 0 0 {page_h} 0 0 cm /Im0 Do Q".encode())
        page = Dictionary(
            Type=Name.Page,
            MediaBox=Array([0, 0, page_w, page_h]),
            Resources=Dictionary(XObject=Dictionary(Im0=image)),
            Contents=drawing,
        )
        pdf.pages.append(pikepdf.Page(page))
    out = io.BytesIO()
    pdf.save(out, deterministic_id=True)  # no random id: the same pages, the same bytes
    return out.getvalue()
