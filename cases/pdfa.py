"""PDF/A-3b for the tele-expertise report: embedded fonts, an sRGB output intent, XMP.

The report is laid out by reportlab with a TrueType font it embeds (:func:`font_files`:
DejaVu from Debian's ``fonts-dejavu-core``, else the Bitstream Vera that reportlab ships),
then :func:`archive` makes it PDF/A-3b in memory with ``pikepdf.pdfa`` (pikepdf's ``[pdfa]``
extra): the output intent carries the sRGB ICC profile (v2.3) that pikepdf ships for this
use, the XMP metadata declares ``pdfaid:part=3``, ``pdfaid:conformance=B``, and the signed opinions
travel as associated files (``AFRelationship /Source``: the documents the report was made
from, which only PDF/A-3 allows). pikepdf writes the file, reopens what it wrote and
validates it against the veraPDF rules it knows; a file it does not approve is never handed
out.

Why A-3b: PDF/A-2 forbids embedded files that are not PDF/A themselves, and the specialist's
signed opinion (CMS) is what lets any reader check who wrote the words the report quotes.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cases.errors import CaseError

log = logging.getLogger(__name__)

FLAVOUR = "3b"

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Fonts:
    """The regular and bold TrueType files the report is set in."""

    regular: Path
    bold: Path


class PdfaError(CaseError):
    """The report could not be made PDF/A (``code``: ``pdfa_failed`` or ``no_font``)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


def font_files() -> Fonts:
    """DejaVu Sans (Debian ``fonts-dejavu-core``), else reportlab's own Bitstream Vera.

    Raises:
        PdfaError: ``no_font``, neither is installed.
    """
    dejavu = Fonts(_DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf")
    if dejavu.regular.is_file() and dejavu.bold.is_file():
        return dejavu
    try:
        import reportlab

        folder = Path(reportlab.__file__).parent / "fonts"
    except ImportError as exc:  # pragma: no cover - reportlab is a dependency
        raise PdfaError("no_font", "reportlab is missing") from exc
    vera = Fonts(folder / "Vera.ttf", folder / "VeraBd.ttf")
    if vera.regular.is_file() and vera.bold.is_file():
        return vera
    raise PdfaError("no_font", "neither DejaVu nor Vera is installed")


@dataclass(frozen=True)
class Attachment:
    """A file carried inside the report (an associated file of the document)."""

    name: str
    data: bytes
    media_type: str
    description: str


def archive(raw: bytes, attachments: Sequence[Attachment] = ()) -> bytes:
    """``raw`` (reportlab's output) as a validated PDF/A-3b, ``attachments`` embedded.

    Raises:
        PdfaError: ``pdfa_failed``, pikepdf did not approve the file it wrote.
    """
    import pikepdf
    import pikepdf.pdfa

    try:
        with pikepdf.open(io.BytesIO(raw)) as pdf:
            _plain_jpegs(pdf)
            for page in pdf.pages:
                # reportlab writes an empty page transition, which the validator does not
                # know: it means nothing on paper or in a record system
                if "/Trans" in page.obj:
                    del page.obj["/Trans"]
            pdf.docinfo["/Creator"] = "Passavant"
            for item in attachments:
                spec = pikepdf.AttachedFileSpec(
                    pdf,
                    item.data,
                    description=item.description,
                    filename=item.name,
                    mime_type=item.media_type,
                    relationship=pikepdf.Name.Source,
                )
                pdf.attachments[item.name] = spec
            # what pikepdf.pdfa.save does, in memory: its save goes through a temporary
            # file, and nothing clinical is written to disk but where the person chooses
            pikepdf.pdfa.prepare(pdf, FLAVOUR)
            settings = pikepdf.pdfa.resolve_save_kwargs(FLAVOUR)
            out = io.BytesIO()
            pdf.save(out, **settings)
    except (pikepdf.PdfError, ValueError) as exc:
        raise PdfaError("pdfa_failed", repr(exc)) from exc
    out.seek(0)
    report = pikepdf.pdfa.validate_written(out, FLAVOUR, save_kwargs=settings)
    if not report.passed:
        log.error("the report is not PDF/A: %s", report)
        raise PdfaError("pdfa_failed", str(report))
    return out.getvalue()


def _plain_jpegs(pdf: object) -> None:
    """reportlab wraps each JPEG in ASCII85 (a quarter larger): keep the JPEG as it is."""
    import pikepdf

    assert isinstance(pdf, pikepdf.Pdf)
    for obj in pdf.objects:
        if not isinstance(obj, pikepdf.Stream) or obj.get("/Subtype") != "/Image":
            continue
        filters = obj.get("/Filter")
        if isinstance(filters, pikepdf.Array) and [str(f) for f in filters] == [
            "/ASCII85Decode",
            "/DCTDecode",
        ]:
            text = obj.read_raw_bytes().strip()
            text = text.removesuffix(b"~>")
            jpeg = base64.a85decode(text, ignorechars=b" \t\n\r\x0b")
            obj.write(jpeg, filter=pikepdf.Name.DCTDecode)
