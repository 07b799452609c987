"""Documents in a request, through the widgets and the real platform: the doctor attaches a
lab result, a hostile PDF made safe and a radiograph (a password-protected PDF is refused in
one sentence); the specialist reads the PDF's pages (rendered off the GUI thread, page keys
and zoom) beside a photo, windows the radiograph, and prints them; nothing in clear is left
on disk. Also: the screens in French and English, at 1280×720 and 960×1000."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

import resources
from app import i18n
from app.mainwindow import MainWindow
from capture.documents import prepare_document
from cases.documents import Document
from tests.gui.fit import fit
from tests.gui.test_at_rest import demo_in_private_tmp, private_tmp, scan  # noqa: F401
from tests.gui.test_end_to_end import AGAIN, WAIT, add_photos, log_in, type_text
from tests.support import documents as samples
from tests.support.demo import DemoEnv
from tests.support.photos import sample_photo
from tests.support.tools import require_tool
from widgets import pdfview
from widgets.background import sends_in_progress
from widgets.caseform import CaseForm
from widgets.doctor import DoctorWorkspace
from widgets.documents import DocumentDetails
from widgets.documentview import DocumentWindow
from widgets.report import report_document
from widgets.specialist import SpecialistWorkspace

TITLE = "CNRY-DOCTITLE-4417 NFS"


def attach(qtbot: QtBot, form: CaseForm, path: Path, kind: str, title: str) -> str:
    """What "Joindre un document…" does once the file is chosen: prepared on a worker, then
    the doctor gives its type, date and title. Returns what the dialog said was removed."""
    before = len(form.documents.documents())
    form.documents.attach(path)
    qtbot.waitUntil(lambda: form.documents.details is not None, timeout=WAIT)
    details = form.documents.details
    assert details is not None
    details.kind.setCurrentIndex(details.kind.findData(kind))
    details.title.setText(title)
    removed = details.removed.text()
    details.accept()
    qtbot.waitUntil(lambda: len(form.documents.documents()) == before + 1, timeout=WAIT)
    return removed


def dark_share(image: QImage) -> float:
    """The share of dark pixels on a grid over ``image`` (text, a filled box)."""
    dark = total = 0
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            total += 1
            dark += image.pixelColor(x, y).lightness() < 100
    return dark / max(total, 1)


def test_documents_travel_are_read_beside_a_photo_and_printed_and_nothing_is_left_in_clear(
    qtbot: QtBot,
    demo_in_private_tmp: DemoEnv,  # noqa: F811
    private_tmp: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    screenshot,  # type: ignore[no-untyped-def]
) -> None:
    env = demo_in_private_tmp
    sources = tmp_path / "sources"
    sources.mkdir()
    lab = sources / f"{samples.CANARY} biologie.pdf"
    lab.write_bytes(samples.lab_result(2))
    hostile = sources / "ecg.pdf"
    hostile.write_bytes(samples.hostile())
    locked = sources / "locked.pdf"
    locked.write_bytes(samples.password_protected())
    radio = sources / "radio.dcm"
    radio.write_bytes(samples.radiograph())
    rendered_on: list[str] = []
    original = pdfview.render_page

    def recorded(document, index, zoom):  # type: ignore[no-untyped-def]
        rendered_on.append(threading.current_thread().name)
        return original(document, index, zoom)

    monkeypatch.setattr(pdfview, "render_page", recorded)

    unit = MainWindow(env.layout.unit, poll_interval=0.3)
    hospital = MainWindow(env.layout.hospital, poll_interval=0.3)
    for window in (unit, hospital):
        qtbot.addWidget(window)
        window.resize(1280, 720)
        window.show()

    # --- the doctor attaches documents --------------------------------------------------
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    form = doctor.form
    qtbot.waitUntil(lambda: form.recipient.currentData() is not None, timeout=WAIT)
    type_text(form.patient_ref, "P-DOC-1")
    form.consent.setChecked(True)
    form.specialty.setCurrentIndex(form.specialty.findData("cardiology"))
    type_text(form.summary, "Douleur thoracique atypique.")
    type_text(form.question, "ECG et bilan normaux ?")
    add_photos(qtbot, doctor, resources.sample_photos()[:1], kept=1)
    attach(qtbot, form, lab, "biologie", TITLE)
    removed = attach(qtbot, form, hostile, "ecg", "ECG de repos")
    assert "Retiré : du JavaScript." in removed.splitlines()
    assert "Retiré : des fichiers joints au PDF." in removed.splitlines()
    form.documents.attach(locked)
    qtbot.waitUntil(lambda: "mot de passe" in form.documents.status.text(), timeout=WAIT)
    assert form.documents.details is None
    attach(qtbot, form, radio, "imagerie", "Radio du thorax")
    docs = form.documents.documents()
    assert [d.kind for d in docs] == ["biologie", "ecg", "imagerie"]
    assert [d.name for d in docs] == ["document-1.pdf", "document-2.pdf", "document-3.dcm"]
    assert samples.CANARY.encode() not in b"".join(d.data for d in docs)
    bar = form.scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # the documents, at the bottom of the form
    screenshot(unit, "doctor-documents")
    qtbot.mouseClick(form.send_button, Qt.MouseButton.LeftButton)
    if AGAIN in form.problems.text():  # warned (no photo, say): sent all the same
        qtbot.mouseClick(form.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    session = unit.session
    assert session is not None
    qtbot.waitUntil(lambda: [j.state for j in session.outbox.jobs()] == ["delivered"], timeout=WAIT)

    # --- the specialist reads them ------------------------------------------------------
    specialist = log_in(qtbot, hospital, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    view = specialist.view
    assert view.documents.isVisible()
    assert view.documents.list.count() == 3
    assert TITLE in view.documents.list.item(0).text()
    assert "Documents joints" in view.text.toPlainText()
    screenshot(hospital, "specialist-documents")
    window = view.documents.open_document(0)
    assert window is not None
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.pdf.page_shown, timeout=WAIT):
        pass
    assert window.pdf.pages == 2
    assert window.pdf.where.text().startswith("Page 1 sur 2")
    assert dark_share(window.pdf.image) > 0.02  # the text and the box are drawn
    assert rendered_on
    assert all(name.startswith("passavant-pdfium") for name in rendered_on)
    assert threading.main_thread().name not in rendered_on
    qtbot.waitUntil(lambda: not window.photo.image.isNull(), timeout=WAIT)  # the photo beside
    window.pdf.setFocus()
    with qtbot.waitSignal(window.pdf.page_shown, timeout=WAIT) as shown:
        qtbot.keyClick(window.pdf, Qt.Key.Key_PageDown)
    assert shown.args == [1]
    assert window.pdf.where.text().startswith("Page 2 sur 2")
    width_before = window.pdf.image.width()
    with qtbot.waitSignal(window.pdf.page_shown, timeout=WAIT):
        qtbot.keyClick(window.pdf, Qt.Key.Key_Plus)
    assert window.pdf.image.width() > width_before
    with qtbot.waitSignal(window.pdf.page_shown, timeout=WAIT):
        qtbot.keyClick(window.pdf, Qt.Key.Key_W)  # back to the width
    assert window.pdf.image.width() <= window.pdf.area.viewport().width()
    qtbot.wait(150)  # the page's label laid out again at its new size
    screenshot(window, "specialist-document-pdf")

    with qtbot.waitSignal(window.shown, timeout=WAIT) as shown:
        window.chooser.setCurrentIndex(2)  # the radiograph
    assert shown.args == ["document-3.dcm"]
    dicom = window.dicom
    assert dicom is not None
    assert window.stack.currentWidget() is window.dicom_holder
    centre_before = dicom.window_values()
    dicom.centre.setValue(dicom.centre.value() + 100)  # window and level, as at capture
    assert dicom.window_values() != centre_before
    qtbot.wait(300)
    screenshot(window, "specialist-document-dicom")

    # --- printed: the documents' pages in an annex --------------------------------------
    threads = hospital.session.workstation.threads(specialist.me)[0]  # type: ignore[union-attr]
    thread = threads[0]
    report = report_document(thread, [], "Pr Marc Dubois")
    text = report.toPlainText()
    assert "Annexe : documents joints" in text
    assert TITLE in text
    for name in ("document-1-1", "document-1-2", "document-2-1", "document-3-1"):
        image = report.resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
        assert isinstance(image, QImage)
        assert not image.isNull(), name
    printed = tmp_path / "printed.pdf"  # what a printer would get (here, Qt's PDF writer)
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(printed))
    report.print_(printer)
    info = subprocess.run(
        [require_tool("pdfinfo"), str(printed)], capture_output=True, text=True, timeout=60
    )
    pages = int(next(ln.split()[-1] for ln in info.stdout.splitlines() if ln.startswith("Pages:")))
    assert pages >= 1 + 4  # the report, then the documents' four pages, one a sheet
    annex = subprocess.run(
        [require_tool("pdftotext"), str(printed), "-"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "Annexe : documents joints" in annex
    assert TITLE in annex  # each document under its type, date and title
    hospital.lock()  # the document window hides with the rest of the window's windows
    assert not window.isVisible()

    # --- nothing in clear on disk -------------------------------------------------------
    sent = [prepare_document(p.read_bytes()).data for p in (lab, hostile)]
    needles = {
        "title": TITLE.encode(),
        "title-utf16": TITLE.encode("utf-16-be"),
        "a clear PDF": b"%PDF-",
        "the radiograph's pixels": samples.radiograph()[-4000:-3000],
    }
    for n, data in enumerate(sent):
        needles[f"document {n}"] = data[len(data) // 2 : len(data) // 2 + 48]
    for w in (unit, hospital):  # the specialist's receipt gone, the windows close at once
        qtbot.waitUntil(lambda w=w: sends_in_progress(w.session.outbox) == 0, timeout=WAIT)
        w.close()
        assert w.session is None
    roots = [env.layout.unit, env.layout.hospital, env.layout.platform, private_tmp]
    assert scan(roots, needles) == []


def test_a_pdf_with_active_content_is_not_rendered(qtbot: QtBot) -> None:
    """A bundle a hostile sender made by hand (not through Passavant) carries a PDF with
    JavaScript: the reader refuses to render it, in one sentence."""
    document = Document.of_bytes(
        "document-1.pdf", samples.hostile(), kind="ecg", when=date(2026, 12, 1), title="x"
    )
    window = DocumentWindow([document], [])
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.pdf.failed, timeout=WAIT) as failed:
        pass
    assert failed.args == ["pdf_unsafe"]
    assert "contenu actif" in window.pdf.message.text()
    assert window.pdf.image.isNull()


def screens(language: str) -> Iterator[tuple[str, object]]:
    """The document screens, built in ``language``."""
    i18n.set_language(language)
    lab = prepare_document(samples.lab_result(2))
    radio = prepare_document(samples.radiograph())
    documents = [
        Document.of_bytes("document-1.pdf", lab.data, kind="biologie", when=date(2026, 11, 30),
                          title="NFS, ionogramme, créatinine", pages=lab.pages),
        Document.of_bytes("document-2.dcm", radio.data, kind="imagerie", when=date(2026, 12, 1),
                          title="Radio du thorax de face"),
    ]  # fmt: skip
    photo = sample_photo(resources.sample_photos()[0], "photo-1.jpg")
    form = CaseForm()
    form.documents.set_documents(documents)
    yield "form", form
    yield "window", DocumentWindow(documents, [photo])
    yield "details", DocumentDetails(prepare_document(samples.hostile()))


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_screens_fit_and_are_rendered(
    qtbot: QtBot, language: str, screenshot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    try:
        for name, widget in screens(language):
            qtbot.addWidget(widget)  # type: ignore[arg-type]
            widget.show()  # type: ignore[attr-defined]
            for size in (QSize(1280, 720), QSize(960, 1000)):
                problems = fit(widget, size)  # type: ignore[arg-type]
                if name == "window":  # the page fitted to the width again
                    pdf = widget.pdf  # type: ignore[attr-defined]
                    qtbot.waitUntil(
                        lambda pdf=pdf: (
                            not pdf.image.isNull()
                            and pdf.image.width() <= pdf.area.viewport().width()
                        ),
                        timeout=WAIT,
                    )
                    QApplication.processEvents()
                    problems = fit(widget, size)  # type: ignore[arg-type]
                if name == "form":
                    bar = widget.scroll.verticalScrollBar()  # type: ignore[attr-defined]
                    bar.setValue(bar.maximum())  # the documents, at the bottom
                assert problems == [], problems
                label = f"documents-{name}-{language}-{size.width()}"
                if (language, size.width()) == ("en", 960) and name != "details":  # in the README
                    screenshot(widget, label)
                else:  # rendered and looked at, kept with the test's files
                    assert widget.grab().save(str(tmp_path / f"{label}.png"))  # type: ignore[attr-defined]
            if name == "form":
                assert ("Lab results" if language == "en" else "Biologie") in (
                    widget.documents.list.item(0).text()  # type: ignore[attr-defined]
                )
    finally:
        i18n.set_language("fr")
