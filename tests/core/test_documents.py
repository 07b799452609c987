"""Documents attached to a request: prepared (capture.documents), carried in the bundle
(cases.documents, cases.bundle) and prepared by ``passavant document prepare``."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pydicom
import pytest
from PIL import Image

from capture import pdfsafe
from capture.dicom_import import load_dicom
from capture.documents import DocumentRefused, prepare_document
from cases.documents import DOCUMENT_TYPES, Document, next_name
from cases.model import Case
from tests.core.test_bundle import DOCTOR, EXPERT, a_case, code_of, entries, open_as, rebuild
from tests.support import documents as samples
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


def a_document(name: str = "document-1.pdf", **changes: Any) -> Document:
    prepared = prepare_document(samples.hostile())
    fields: dict[str, Any] = {
        "kind": "biologie", "when": date(2026, 11, 30), "title": "NFS du 30/11",
        "pages": prepared.pages,
    }  # fmt: skip
    fields.update(changes)
    return Document.of_bytes(name, prepared.data, **fields)


def with_documents(*documents: Document) -> bytes:
    from cases.bundle import pack_case

    case = a_case(documents=documents)
    return pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR])


# --- the bundle ---------------------------------------------------------------------------


def test_documents_travel_in_the_bundle_with_type_date_title_size_and_digest() -> None:
    pdf = a_document()
    dicom = Document.of_bytes(
        "document-2.dcm", prepare_document(samples.radiograph()).data,
        kind="imagerie", when=date(2026, 12, 1), title="Radio du poignet",
    )  # fmt: skip
    data = with_documents(pdf, dicom)
    names = entries(data)
    assert "documents/document-1.pdf" in names
    assert "documents/document-2.dcm" in names
    import zipfile

    assert names["documents/document-1.pdf"].compress_type == zipfile.ZIP_DEFLATED
    bundle = open_as(data)
    got = bundle.case.documents
    assert [d.name for d in got] == ["document-1.pdf", "document-2.dcm"]
    assert got[0].kind == "biologie"
    assert got[0].date == date(2026, 11, 30)
    assert got[0].title == "NFS du 30/11"
    assert got[0].pages == 1
    assert got[0].data == pdf.data
    assert got[1].data == dicom.data
    assert got[0].sha256 == hashlib.sha256(pdf.data).hexdigest()
    assert got[0].size == len(pdf.data)
    listed = {f.name: f for f in bundle.manifest.files}
    assert listed["documents/document-1.pdf"].media_type == "application/pdf"
    assert listed["documents/document-2.dcm"].media_type == "application/dicom"
    assert bundle.case.photos  # the photos are still there
    import json

    entry = json.loads(bundle.manifest_json)["clinical"]["documents"][0]
    assert entry == {
        "name": "document-1.pdf", "type": "biologie", "date": "2026-11-30",
        "title": "NFS du 30/11", "size": len(pdf.data), "sha256": pdf.sha256, "pages": 1,
    }  # fmt: skip


def test_a_request_without_documents_is_written_as_before_and_opens() -> None:
    case = a_case()
    assert "documents" not in case.to_json()
    from cases.bundle import pack_case

    bundle = open_as(pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR]))
    assert bundle.case.documents == ()


def _edit_document(change: Any) -> Any:
    def edit(manifest: dict[str, Any]) -> None:
        change(manifest["clinical"]["documents"][0])

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _edit_document(lambda d: d.update(size=d["size"] + 1)),
        _edit_document(lambda d: d.update(sha256="0" * 64)),
        _edit_document(lambda d: d.update(name="../../etc/passwd")),
        _edit_document(lambda d: d.update(name="document-1.exe")),
        _edit_document(lambda d: d.update(type="Biologie!")),
        _edit_document(lambda d: d.update(date="30/11/2026")),
        _edit_document(lambda d: d.update(date="3026-11-30")),
        _edit_document(lambda d: d.update(title="x" * 500)),
        _edit_document(lambda d: d.update(pages=0)),
        _edit_document(lambda d: d.update(extra=1)),
        _edit_document(lambda d: d.pop("title")),
        lambda m: m["clinical"]["documents"].append(dict(m["clinical"]["documents"][0])),
        lambda m: m["clinical"].update(documents="document-1.pdf"),
        lambda m: m["clinical"].pop("documents"),  # the file is then an extra one
    ],
)
def test_a_malformed_document_entry_is_refused(edit: Any) -> None:
    assert code_of(rebuild(with_documents(a_document()), manifest=edit)) == "malformed_bundle"


def test_a_document_swapped_for_another_file_is_refused() -> None:
    def swap(files: dict[str, bytes]) -> None:
        files["documents/document-1.pdf"] = samples.hostile()  # the unsafe original

    assert code_of(rebuild(with_documents(a_document()), files=swap)) == "malformed_bundle"


def test_a_document_names_a_type_date_and_title() -> None:
    with pytest.raises(ValueError, match="type"):
        a_document(kind="radiologie")
    with pytest.raises(ValueError, match="title"):
        a_document(title="x" * 121)
    with pytest.raises(ValueError, match="name"):
        a_document(name="Dupont lab.pdf")
    assert set(DOCUMENT_TYPES) == {"biologie", "ecg", "imagerie", "compte_rendu", "autre"}
    existing = (a_document("document-1.pdf"), a_document("document-3.pdf"))
    assert next_name(existing, "dcm") == "document-2.dcm"


def test_too_many_documents_keep_a_case_from_being_sent() -> None:
    doc = a_document()
    many = tuple(replace(doc, name=f"document-{n}.pdf") for n in range(1, 14))
    assert (
        "too_many_documents" in Case("P", True, "wounds", "s", "t", "q", documents=many).problems()
    )


# --- preparing each kind ------------------------------------------------------------------


def test_a_radiograph_loses_its_identity_and_keeps_its_pixels_and_window(tmp_path: Path) -> None:
    original = samples.radiograph()
    prepared = prepare_document(original)
    assert prepared.suffix == "dcm"
    assert prepared.removed == ("dicom_identity", "dicom_private")
    assert samples.CANARY.encode() not in prepared.data
    ds = pydicom.dcmread(io.BytesIO(prepared.data))
    assert not ds.get("PatientName")  # type 2: kept empty (PS3.15, Z)
    assert "InstitutionName" not in ds
    assert "OperatorsName" not in ds
    assert ds.PatientIdentityRemoved == "YES"
    before, after = load_dicom(original), load_dicom(prepared.data)
    assert (before.pixels == after.pixels).all()
    assert after.window == before.window == (2000.0, 3000.0)
    dump = subprocess.run(
        [require_tool("dcmdump"), str(_write(tmp_path / "r.dcm", prepared.data))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert dump.returncode == 0
    assert "PN (no value available)" in dump.stdout  # the name kept empty (type 2)
    assert "(0011," not in dump.stdout  # no private element left


def test_a_photographed_result_loses_its_metadata() -> None:
    exif = Image.Exif()
    exif[0x010F] = "CanaryCam"  # Make
    exif[0x8825] = {2: (48.0, 51.0, 0.0)}  # GPS latitude
    image = Image.new("RGB", (800, 1100), "white")
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=samples.CANARY.encode())
    prepared = prepare_document(out.getvalue())
    assert prepared.suffix == "jpg"
    assert prepared.pages == 1
    assert "gps" in prepared.removed
    assert "exif" in prepared.removed
    assert b"CanaryCam" not in prepared.data
    assert samples.CANARY.encode() not in prepared.data
    with Image.open(io.BytesIO(prepared.data)) as kept:
        assert not kept.getexif()
        assert kept.size == (800, 1100)


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty_file"), (b"PK\x03\x04 a zip", "not_a_document"), (b"hello", "not_a_document")],
)
def test_what_is_not_a_document_is_refused(data: bytes, code: str) -> None:
    with pytest.raises(DocumentRefused) as refused:
        prepare_document(data)
    assert refused.value.code == code


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the command line ---------------------------------------------------------------------


def passavant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_document_prepare_prints_what_it_removed(tmp_path: Path) -> None:
    source = _write(tmp_path / f"{samples.CANARY}.pdf", samples.hostile())
    out = tmp_path / "safe.pdf"
    done = passavant("document", "prepare", str(source), "-o", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "Retiré : du JavaScript." in lines
    assert "Retiré : le lancement d’un programme." in lines
    assert "Retiré : des fichiers joints au PDF." in lines
    assert "Retiré : les métadonnées XMP." in lines
    assert lines[-1].startswith("Écrit : ")
    assert "PDF, 1 page(s)" in lines[-1]
    assert pdfsafe.findings(out.read_bytes()) == set()
    assert samples.CANARY.encode() not in out.read_bytes()


def test_document_prepare_of_a_clean_file_says_nothing_was_removed(tmp_path: Path) -> None:
    clean = pdfsafe.make_safe(samples.lab_result(2)).data
    done = passavant(
        "document", "prepare", str(_write(tmp_path / "a.pdf", clean)), "-o", str(tmp_path / "b.pdf")
    )
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == "Rien à retirer."


@pytest.mark.parametrize(
    ("make", "sentence"),
    [
        (lambda: b"just some text", "ni un PDF"),
        (samples.password_protected, "mot de passe"),
        (lambda: samples.lab_result(pdfsafe.MAX_PAGES + 5), "au plus 200 pages"),
        (lambda: samples.lab_result(2)[:1200], "incomplet ou endommagé"),
        (lambda: b"", "vide"),
    ],
    ids=["not-a-pdf", "password", "too-many-pages", "truncated", "empty"],
)
def test_document_prepare_refuses_bad_input_in_one_line(
    make: Any, sentence: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.pdf"
    done = passavant(
        "document", "prepare", str(_write(tmp_path / "in.pdf", make())), "-o", str(out)
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert sentence in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_document_prepare_of_a_missing_file(tmp_path: Path) -> None:
    done = passavant("document", "prepare", str(tmp_path / "nope.pdf"), "-o", str(tmp_path / "o"))
    assert done.returncode == 1
    assert "introuvable" in done.stderr


def test_the_sentences_exist_in_english() -> None:
    from app import i18n
    from app.document_texts import refusal, removed_lines

    i18n.set_language("en")
    try:
        assert removed_lines(("javascript", "gps")) == [
            "Removed: JavaScript.",
            "Removed: the photo's metadata (GPS position).",
        ]
        assert refusal(pdfsafe.ENCRYPTED).startswith("This PDF is protected by a password")
    finally:
        i18n.set_language("fr")


def test_a_draft_keeps_its_documents_sealed(tmp_path: Path) -> None:
    """The doctor's draft (sealed, restored after a restart) keeps the documents attached,
    and no clear PDF lies in the drafts' folder."""
    from cases.drafts import DraftStore
    from tests.core.test_drafts import a_case as a_draft
    from tests.core.test_drafts import me
    from tests.support.pki import world

    document = a_document()
    case = a_draft(documents=(document,))
    DraftStore(tmp_path, me(world().doctor), world().roots).save(case)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"%PDF-" not in path.read_bytes()
    again, unreadable = DraftStore(tmp_path, me(world().doctor), world().roots).load()
    assert unreadable == []
    [restored] = again[0].documents
    assert restored.data == document.data
    assert (restored.kind, restored.date, restored.title) == (
        "biologie",
        date(2026, 11, 30),
        "NFS du 30/11",
    )


def test_documents_too_large_in_all_keep_a_case_from_being_sent() -> None:
    from cases.documents import MAX_DOCUMENTS_BYTES

    doc = a_document()
    heavy = replace(doc, size=MAX_DOCUMENTS_BYTES // 2 + 1)
    both = (heavy, replace(heavy, name="document-2.pdf"))
    assert (
        "documents_too_large" in Case("P", True, "wounds", "s", "t", "q", documents=both).problems()
    )
    assert (
        "documents_too_large"
        not in Case("P", True, "wounds", "s", "t", "q", documents=both[:1]).problems()
    )
