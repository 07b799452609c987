"""Real documents made by the tests: a lab result PDF (reportlab), hostile variants of it
(pikepdf adds what a hostile or careless sender would), and a radiograph in DICOM."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import numpy as np
import pikepdf
from pikepdf import Array, Dictionary, Name, String
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

CANARY = "Dupont-Canary-7731"
"""A patient's name: in the metadata of the hostile files, never in what is sent."""
FIELD_VALUE = "Glycemie 5,4 mmol/L"
"""The value of a form field: it stays readable once the form is flattened."""

FEATURES = (
    "javascript",
    "open_action",
    "launch",
    "embedded_file",
    "form",
    "uri_link",
    "xmp",
    "info",
)


def lab_result(
    pages: int = 2, *, text: str = "Hemoglobine 13,2 g/dL", title: str = CANARY
) -> bytes:
    """A lab result of ``pages`` pages, whose Info names the patient, the lab and reportlab."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.setTitle(title)
    page.setAuthor("Laboratoire " + CANARY)
    page.setSubject(CANARY)
    for number in range(pages):
        page.setFont("Helvetica", 18)
        page.drawString(72, 760, f"Biologie page {number + 1}")
        page.drawString(72, 730, text)
        page.rect(72, 500, 300, 150, fill=1)
        page.showPage()
    page.save()
    return out.getvalue()


def _form_and_link(info: bool) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    if info:
        page.setTitle(CANARY)
    page.drawString(72, 760, "Compte rendu")
    page.acroForm.textfield(name="resultat", value=FIELD_VALUE, x=72, y=650, width=300, height=24)
    page.showPage()
    page.save()
    return out.getvalue()


def _edited(data: bytes, edit: Callable[[pikepdf.Pdf], None]) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        edit(pdf)
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def hostile(*features: str) -> bytes:
    """A one-page result carrying each of ``features`` (all of :data:`FEATURES` if none)."""
    chosen = set(features or FEATURES)
    base = _form_and_link("info" in chosen) if "form" in chosen else lab_result(1, title="")

    def edit(pdf: pikepdf.Pdf) -> None:
        page = pdf.pages[0].obj
        annots = page.get(Name.Annots, Array())
        if "info" not in chosen:
            del pdf.trailer[Name.Info]
        else:
            pdf.docinfo[Name.Author] = CANARY
        if "javascript" in chosen:
            js = pdf.make_indirect(
                Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String("app.alert(1)"))
            )
            pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("x"), js])))
            page.AA = Dictionary(O=Dictionary(S=Name.JavaScript, JS=String("app.beep(0)")))
        if "open_action" in chosen:
            pdf.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=String("this.print()"))
        if "launch" in chosen:
            launch = Dictionary(Type=Name.Action, S=Name.Launch, F=String("cmd.exe"))
            annots.append(pdf.make_indirect(Dictionary(
                Type=Name.Annot, Subtype=Name.Link, Rect=Array([0, 0, 50, 50]), A=launch
            )))  # fmt: skip
        if "uri_link" in chosen:
            uri = Dictionary(S=Name.URI, URI=String("https://example.invalid/track"))
            annots.append(pdf.make_indirect(Dictionary(
                Type=Name.Annot, Subtype=Name.Link, Rect=Array([60, 0, 110, 50]), A=uri
            )))  # fmt: skip
        if "embedded_file" in chosen:
            pdf.attachments[f"patient-{CANARY}.txt"] = pikepdf.AttachedFileSpec(
                pdf, (CANARY * 10).encode(), mime_type="text/plain"
            )
        if "xmp" in chosen:
            with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
                meta["dc:title"] = CANARY
                meta["dc:creator"] = [CANARY]
        if len(annots):
            page.Annots = annots

    return _edited(base, edit)


def deeply_nested(depth: int) -> bytes:
    """A lab result whose catalog holds arrays nested ``depth`` deep."""

    def edit(pdf: pikepdf.Pdf) -> None:
        value = Array([1])
        for _ in range(depth):
            value = Array([value])
        pdf.Root.Deep = value

    return _edited(lab_result(1), edit)


def looping() -> bytes:
    """Objects that refer to each other and to themselves (a harmless cycle)."""

    def edit(pdf: pikepdf.Pdf) -> None:
        a = pdf.make_indirect(Dictionary())
        b = pdf.make_indirect(Dictionary(Other=a))
        a.Other = b
        a.Self = a
        pdf.Root.Cycle = a

    return _edited(lab_result(1), edit)


def page_tree_loop() -> bytes:
    """A page tree whose node is its own grandchild."""

    def edit(pdf: pikepdf.Pdf) -> None:
        pages = pdf.Root.Pages
        kid = pdf.make_indirect(
            Dictionary(Type=Name.Pages, Kids=Array([pages]), Count=1, Parent=pages)
        )
        pages.Kids.append(kid)
        pages.Count = 2

    return _edited(lab_result(1), edit)


def password_protected() -> bytes:
    with pikepdf.open(io.BytesIO(lab_result(1))) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="owner"))
    return out.getvalue()


def owner_restricted() -> bytes:
    """Opens without a password, but forbids copying its text (a common lab export)."""
    with pikepdf.open(io.BytesIO(lab_result(1))) as pdf:
        out = io.BytesIO()
        pdf.save(
            out,
            encryption=pikepdf.Encryption(
                user="", owner="owner", allow=pikepdf.Permissions(extract=False)
            ),
        )
    return out.getvalue()


def flate_bomb(megabytes: int) -> bytes:
    """A one-page PDF holding a stream of ``megabytes`` MiB of zeros, deflated (~1,000:1)."""
    packer = zlib.compressobj(9)
    block = b"\0" * (1024 * 1024)
    packed = b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()

    def edit(pdf: pikepdf.Pdf) -> None:
        stream = pikepdf.Stream(pdf, packed)
        stream.Filter = Name.FlateDecode
        pdf.Root.Bomb = pdf.make_indirect(stream)

    return _edited(lab_result(1), edit)


def radiograph(*, private: bool = True) -> bytes:
    """A 16-bit radiograph (DX, MONOCHROME2, uncompressed) naming its patient, hospital and
    operator, with a window in the file and a private element."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rows, cols = 256, 200
    pixels = (np.add.outer(np.arange(rows), np.arange(cols)) * 8).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "DX"
    ds.PatientName = CANARY
    ds.PatientID = "ECROU-" + CANARY
    ds.PatientBirthDate = "19800101"
    ds.InstitutionName = "Centre penitentiaire " + CANARY
    ds.OperatorsName = "Manip " + CANARY
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    ds.PixelData = pixels.tobytes()
    if private:
        block = ds.private_block(0x0011, "ACME RADIO", create=True)
        block.add_new(0x01, "LO", "serial " + CANARY)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
