"""A PDF made safe to send: no active content, no identifying metadata, bounded cost.

A unit attaches lab results, ECG tracings and earlier letters as PDFs; a PDF can carry much
more than pages: JavaScript, actions run on opening or on a click (launch a program, submit a
form, open a web address), files embedded inside it, forms, and metadata naming its author,
the software and often the patient (a title copied from the file name). :func:`make_safe`
rewrites the document with pikepdf (qpdf) without any of that and says what it removed, or
refuses it with a stable code (:class:`PdfRefused`) when it cannot be made safe:

* ``pdf_encrypted``: it needs a password to open (a PDF restricted only by an owner password
  opens without one: the restriction is removed and said so);
* ``pdf_damaged``: not a PDF, truncated, or a structure qpdf cannot read without guessing;
* ``pdf_too_large``: more than :data:`MAX_BYTES` bytes, :data:`MAX_PAGES` pages,
  :data:`MAX_OBJECTS` objects, a structure nested more than :data:`MAX_DEPTH` levels, more
  than :data:`MAX_VISITS` values in all, or streams that would inflate past
  :data:`MAX_INFLATED` (counted as they inflate, keeping nothing), or an image of more than
  :data:`MAX_IMAGE_PIXELS` pixels.

What costs what: every bound is checked before the work it would cause, and the walk of the
object graph visits each indirect object once (a loop costs nothing more), so a hostile file
costs at most a bounded multiple of its size. The result is checked again by
:func:`findings` (a second, independent walk over the file as written) before it is returned.
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pikepdf
from pikepdf import Name

log = logging.getLogger(__name__)

MAX_BYTES = 40 * 1024 * 1024
"""Bytes of a PDF accepted: a scanned 30-page result at 300 dpi fits; a larger file belongs
in the hospital's record, not in a request."""
MAX_PAGES = 200
MAX_OBJECTS = 200_000
MAX_VISITS = 2_000_000
"""Values (dictionary entries and array items) visited by one walk over the document."""
MAX_DEPTH = 48
"""Direct objects nested within one another (qpdf itself stops at 500)."""
MAX_INFLATED = 256 * 1024 * 1024
"""Bytes the Flate-compressed streams other than images (page contents, fonts, object
streams) of one document may inflate to. An image is bounded by its declared size instead
(:data:`MAX_IMAGE_PIXELS`): a renderer decodes no more than that, and a scanned result's
pages, deflated, may well inflate to gigabytes in all."""
MAX_IMAGE_PIXELS = 50_000_000
"""Pixels of one image: an A3 page scanned at 600 dpi (35 Mpx) fits; PDFium decodes an image
at its full size (4 bytes a pixel) whatever the zoom."""

ENCRYPTED = "pdf_encrypted"
DAMAGED = "pdf_damaged"
TOO_LARGE = "pdf_too_large"
CODES = (ENCRYPTED, DAMAGED, TOO_LARGE)

# What :class:`PdfReport` may list, in the order a report prints them.
REMOVED = (
    "javascript",
    "open_action",
    "launch",
    "embedded_files",
    "forms",
    "external_links",
    "actions",
    "multimedia",
    "info",
    "xmp",
    "private_data",
    "restrictions",
)

_SAFE_ACTIONS: set[Any] = {Name.GoTo}
"""Actions kept: a jump to a page of the same document."""
_DANGEROUS_ACTIONS: dict[Any, str] = {
    Name.JavaScript: "javascript",
    Name.Launch: "launch",
    Name.URI: "external_links",
    Name.GoToR: "external_links",
    Name.GoToE: "embedded_files",
    Name.SubmitForm: "forms",
    Name.ImportData: "forms",
    Name.ResetForm: "forms",
}
_MULTIMEDIA: dict[Any, str] = {
    Name.FileAttachment: "embedded_files",
    Name.Movie: "multimedia",
    Name.Sound: "multimedia",
    Name.Screen: "multimedia",
    Name.RichMedia: "multimedia",
    Name("/3D"): "multimedia",
    Name.Widget: "forms",
}
_CATALOG_KEYS: dict[Any, str] = {
    Name.OpenAction: "open_action",
    Name.AA: "actions",
    Name.AcroForm: "forms",
    Name.Metadata: "xmp",
    Name.PieceInfo: "private_data",
    Name.SpiderInfo: "private_data",
    Name.Collection: "embedded_files",
    Name.Perms: "restrictions",
    Name.URI: "external_links",
}
_NAME_TREES: dict[Any, str] = {
    Name.JavaScript: "javascript",
    Name.EmbeddedFiles: "embedded_files",
    Name.URLS: "external_links",
    Name.AlternatePresentations: "multimedia",
    Name.Renditions: "multimedia",
}
_EVERYWHERE: dict[Any, str] = {
    Name.AA: "actions",
    Name.JS: "javascript",
    Name.Metadata: "xmp",
    Name.PieceInfo: "private_data",
    Name.EF: "embedded_files",
    Name.RichMediaContent: "multimedia",
}
"""Keys removed from every dictionary of the document, wherever they are."""


class PdfRefused(Exception):
    """A PDF that cannot be made safe. ``code`` is one of :data:`CODES`; the message is
    English, for logs (never a file name nor any of the document's text)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PdfReport:
    """What :func:`make_safe` did: ``removed`` holds codes of :data:`REMOVED`, each once,
    in that order; ``pages`` the document's page count."""

    removed: tuple[str, ...]
    pages: int


@dataclass(frozen=True)
class SafePdf:
    data: bytes
    report: PdfReport


_READ_ERRORS = (
    pikepdf.PdfError,
    zlib.error,
    RecursionError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    NotImplementedError,
    RuntimeError,
)
"""What qpdf, pikepdf and zlib raise on a damaged file, wherever the walk meets it."""


def make_safe(data: bytes) -> SafePdf:
    """The PDF ``data`` rewritten without active content nor identifying metadata.

    Raises:
        PdfRefused: it cannot be made safe (code ``pdf_encrypted``, ``pdf_damaged`` or
            ``pdf_too_large``).
    """
    try:
        return _make_safe(data)
    except PdfRefused:
        raise
    except MemoryError as exc:
        raise PdfRefused(TOO_LARGE, "out of memory while reading the PDF") from exc
    except _READ_ERRORS as exc:
        raise PdfRefused(DAMAGED, f"unreadable: {type(exc).__name__}") from exc


def findings(data: bytes) -> set[str]:
    """What a PDF still holds of what :func:`make_safe` removes (codes of :data:`REMOVED`),
    found by a walk of its own: empty for a safe document.

    Raises:
        PdfRefused: it cannot be read within the bounds.
    """
    try:
        return _findings(data)
    except PdfRefused:
        raise
    except MemoryError as exc:
        raise PdfRefused(TOO_LARGE, "out of memory while reading the PDF") from exc
    except _READ_ERRORS as exc:
        raise PdfRefused(DAMAGED, f"unreadable: {type(exc).__name__}") from exc


def _make_safe(data: bytes) -> SafePdf:
    pdf = _open(data)
    with pdf:
        removed: set[str] = set()
        pages = _check_size(pdf)
        if pdf.is_encrypted:
            removed.add("restrictions")
        _clean_catalog(pdf, removed)
        _clean_pages(pdf, removed)
        _walk(pdf, removed)
        if pdf.docinfo.keys() or Name.Info in pdf.trailer:
            if len(pdf.docinfo.keys()):
                removed.add("info")
            del pdf.trailer[Name.Info]
        warnings = pdf.get_warnings()  # (asking clears them)
        if warnings:
            raise PdfRefused(DAMAGED, f"qpdf had to repair the file: {warnings[0][:200]}")
        out = io.BytesIO()
        try:
            pdf.save(
                out,
                encryption=False,
                deterministic_id=True,
                fix_metadata_version=False,
                object_stream_mode=pikepdf.ObjectStreamMode.generate,
                compress_streams=True,
            )
        except (pikepdf.PdfError, RecursionError) as exc:
            raise PdfRefused(DAMAGED, f"cannot rewrite: {type(exc).__name__}") from exc
    written = out.getvalue()
    left = _findings(written)
    if left:  # never hand on a document the second walk does not find clean
        raise PdfRefused(DAMAGED, f"still holds {', '.join(sorted(left))} after rewriting")
    return SafePdf(written, PdfReport(tuple(c for c in REMOVED if c in removed), pages))


def _findings(data: bytes) -> set[str]:
    found: set[str] = set()
    with _open(data) as pdf:
        _check_size(pdf)
        if pdf.is_encrypted:
            found.add("restrictions")
        if len(pdf.docinfo.keys()):
            found.add("info")
        for key, code in _CATALOG_KEYS.items():
            shows_a_page = key == Name.OpenAction and _opens_on_a_page(pdf.Root.get(key))
            if key in pdf.Root and key != Name.AA and not shows_a_page:
                found.add(code)
        names = pdf.Root.get(Name.Names)
        if isinstance(names, pikepdf.Dictionary):
            found.update(code for key, code in _NAME_TREES.items() if key in names)
        for value in _values(pdf):
            if isinstance(value, pikepdf.Dictionary | pikepdf.Stream):
                found.update(code for key, code in _EVERYWHERE.items() if key in value)
                kind = value.get(Name.S)
                if kind in _DANGEROUS_ACTIONS:
                    found.add(_DANGEROUS_ACTIONS[kind])
                subtype = value.get(Name.Subtype)
                if value.get(Name.Type) == Name.Annot and subtype in _MULTIMEDIA:
                    found.add(_MULTIMEDIA[subtype])
                if value.get(Name.Type) in (Name.EmbeddedFile, Name.Filespec):
                    found.add("embedded_files")
    return found


def page_count(data: bytes) -> int:
    """The page count of a PDF within the bounds (what a reader checks before rendering).

    Raises:
        PdfRefused: it cannot be read, or it is beyond a bound.
    """
    with _open(data) as pdf:
        return _check_size(pdf)


# --- opening and bounds -----------------------------------------------------------------


def _open(data: bytes) -> pikepdf.Pdf:
    if len(data) > MAX_BYTES:
        raise PdfRefused(TOO_LARGE, f"{len(data)} bytes, more than {MAX_BYTES}")
    if b"%PDF-" not in data[:1024]:  # where readers look for the header
        raise PdfRefused(DAMAGED, "no PDF header")
    try:
        return pikepdf.open(io.BytesIO(data), suppress_warnings=True)
    except pikepdf.PasswordError as exc:
        raise PdfRefused(ENCRYPTED, "the PDF needs a password to open") from exc
    except (pikepdf.PdfError, RecursionError, ValueError) as exc:
        raise PdfRefused(DAMAGED, f"unreadable: {type(exc).__name__}") from exc


def _check_size(pdf: pikepdf.Pdf) -> int:
    """The page count, after checking the object count and the page count."""
    try:
        objects = len(pdf.objects)
        if objects > MAX_OBJECTS:
            raise PdfRefused(TOO_LARGE, f"{objects} objects, more than {MAX_OBJECTS}")
        pages = len(pdf.pages)
    except pikepdf.PdfError as exc:
        raise PdfRefused(DAMAGED, f"no readable page tree: {type(exc).__name__}") from exc
    if pages > MAX_PAGES:
        raise PdfRefused(TOO_LARGE, f"{pages} pages, more than {MAX_PAGES}")
    if pages == 0:
        raise PdfRefused(DAMAGED, "no page")
    return pages


def _values(pdf: pikepdf.Pdf) -> Iterator[Any]:
    """Every value of the document once: each indirect object, and the direct values it
    holds (not following references, which are indirect objects met in their turn).

    Raises:
        PdfRefused: more than :data:`MAX_VISITS` values, or nested deeper than
            :data:`MAX_DEPTH`, or streams inflating past the bounds.
    """
    visits = 0
    inflated = [0]
    for root in pdf.objects:
        stack: list[tuple[Any, int]] = [(root, 0)]
        while stack:
            value, depth = stack.pop()
            visits += 1
            if visits > MAX_VISITS:
                raise PdfRefused(TOO_LARGE, f"more than {MAX_VISITS} values")
            if depth > MAX_DEPTH:
                raise PdfRefused(TOO_LARGE, f"nested deeper than {MAX_DEPTH}")
            if isinstance(value, pikepdf.Stream):
                _check_stream(value, inflated)
                children: Any = value.stream_dict.values()
            elif isinstance(value, pikepdf.Dictionary):
                children = value.values()
            elif isinstance(value, pikepdf.Array):
                children = list(value)
            else:
                yield value
                continue
            yield value
            for child in children:
                if isinstance(child, pikepdf.Object) and child.is_indirect:
                    continue  # met as an object of its own
                if isinstance(child, pikepdf.Dictionary | pikepdf.Array | pikepdf.Stream):
                    stack.append((child, depth + 1))


def _check_stream(stream: pikepdf.Stream, inflated: list[int]) -> None:
    """Bounds the work a stream would cause when read: an image's declared size, or what
    another stream's Flate filter inflates to (counted, keeping nothing)."""
    if stream.get(Name.Subtype) == Name.Image:
        width, height = _integer(stream.get(Name.Width)), _integer(stream.get(Name.Height))
        if width is None or height is None or width < 0 or height < 0:
            raise PdfRefused(DAMAGED, "an image without a size")
        if width * height > MAX_IMAGE_PIXELS:
            raise PdfRefused(TOO_LARGE, f"an image of {width}x{height} pixels")
        return
    filters = stream.get(Name.Filter)
    first = filters[0] if isinstance(filters, pikepdf.Array) and len(filters) else filters
    if first not in (Name.FlateDecode, Name.Fl):
        return
    try:
        raw = stream.read_raw_bytes()
    except pikepdf.PdfError as exc:
        raise PdfRefused(DAMAGED, f"unreadable stream: {type(exc).__name__}") from exc
    inflater = zlib.decompressobj()
    chunk, pending = 1024 * 1024, raw
    while True:
        try:
            data = inflater.decompress(pending, chunk)
        except zlib.error:
            return  # a damaged stream: the renderer shows what it can, at no greater cost
        inflated[0] += len(data)
        if inflated[0] > MAX_INFLATED:
            raise PdfRefused(TOO_LARGE, f"streams inflate past {MAX_INFLATED} bytes")
        pending = inflater.unconsumed_tail
        if not pending:
            break


def _integer(value: Any) -> int | None:
    """A PDF number as an ``int`` (direct or through a reference), or ``None``."""
    try:
        return int(value)
    except (TypeError, ValueError, pikepdf.PdfError):
        return None


# --- rewriting ----------------------------------------------------------------------------


def _clean_catalog(pdf: pikepdf.Pdf, removed: set[str]) -> None:
    root = pdf.Root
    for key, code in _CATALOG_KEYS.items():
        if key == Name.OpenAction and _opens_on_a_page(root.get(key)):
            continue  # "open at page N, fit to the window": kept
        if key in root:
            if key == Name.AcroForm:
                _flatten_forms(pdf)
            if key in root:  # flattening may have removed the form already
                del root[key]
            removed.add(code)
    names = root.get(Name.Names)
    if isinstance(names, pikepdf.Dictionary):
        for key, code in _NAME_TREES.items():
            if key in names:
                del names[key]
                removed.add(code)


def _opens_on_a_page(action: Any) -> bool:
    """An open action that only shows a page: a destination, or a GoTo to one (what word
    processors write), with no action chained after it."""
    if isinstance(action, pikepdf.Array):
        return True
    return (
        isinstance(action, pikepdf.Dictionary)
        and action.get(Name.S) == Name.GoTo
        and Name.Next not in action
    )


def _flatten_forms(pdf: pikepdf.Pdf) -> None:
    """Draws what the form's fields show into the pages, so the values stay readable once
    the form is gone."""
    try:
        pdf.generate_appearance_streams()
        pdf.flatten_annotations("all")
    except (pikepdf.PdfError, RuntimeError, ValueError) as exc:
        log.info("form not flattened (%s): its widgets are removed", type(exc).__name__)


def _clean_pages(pdf: pikepdf.Pdf, removed: set[str]) -> None:
    for page in pdf.pages:
        obj = page.obj
        if Name.AA in obj:
            del obj[Name.AA]
            removed.add("actions")
        annots = obj.get(Name.Annots)
        if not isinstance(annots, pikepdf.Array):
            continue
        kept = pikepdf.Array()
        for annot in annots:
            if not isinstance(annot, pikepdf.Dictionary):
                continue
            code = _MULTIMEDIA.get(annot.get(Name.Subtype))
            action = annot.get(Name.A)
            if code is None and isinstance(action, pikepdf.Dictionary):
                kind = action.get(Name.S)
                if kind not in _SAFE_ACTIONS:
                    code = _DANGEROUS_ACTIONS.get(kind, "actions")
            if code is not None:
                removed.add(code)
                continue
            kept.append(annot)
        if len(kept):
            obj[Name.Annots] = kept
        else:
            del obj[Name.Annots]


def _walk(pdf: pikepdf.Pdf, removed: set[str]) -> None:
    """Removes, from every dictionary left, the keys that carry active content, embedded
    files or metadata, and every action but a jump within the document."""
    for value in _values(pdf):
        if not isinstance(value, pikepdf.Dictionary | pikepdf.Stream):
            continue
        for key, code in _EVERYWHERE.items():
            if key in value:
                del value[key]
                removed.add(code)
        for key in (Name.A, Name.Next):
            action = value.get(key)
            if isinstance(action, pikepdf.Dictionary) and Name.S in action:
                kind = action.get(Name.S)
                if kind not in _SAFE_ACTIONS:
                    del value[key]
                    removed.add(_DANGEROUS_ACTIONS.get(kind, "actions"))
        kind = value.get(Name.S)
        if kind in _DANGEROUS_ACTIONS and value.get(Name.Type, Name.Action) == Name.Action:
            # an action object itself, wherever it is referenced from: made inert
            for key in list(value.keys()):
                del value[key]
            removed.add(_DANGEROUS_ACTIONS[kind])
        if value.get(Name.Type) in (Name.EmbeddedFile, Name.Filespec):
            if isinstance(value, pikepdf.Stream):
                value.write(b"")
            for key in list(value.keys()):
                del value[key]
            removed.add("embedded_files")
