"""The printed report: the request, its photos and the opinions, for the patient's file;
each printing journalled without clinical content."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication, QTranslator, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from pytestqt.qtbot import QtBot

import resources
from app.gui import install_qt_translations
from cases.bundle import pack_withdrawal, unpack
from cases.model import Opinion
from cases.photos import Photo
from cases.threads import Opened
from crypto import audit
from tests.core.test_followup import DOCTOR, EXPERT, request, thread
from tests.gui.test_end_to_end import WAIT, write_opinion
from tests.gui.test_opinions import requests_sent
from tests.support.demo import DemoEnv
from tests.support.photos import sample_photo
from widgets.report import PHOTO_PX, report_document


def pdf_printer(path: Path) -> QPrinter:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    return printer


def test_the_report_holds_the_request_its_photos_and_the_opinion(
    qtbot: QtBot, tmp_path: Path
) -> None:
    leg = "membre_inferieur_gauche"
    photos = tuple(
        replace(sample_photo(path, f"photo-{n}.jpg"), site=leg if n == 1 else "")
        for n, path in enumerate(resources.sample_photos()[:3], 1)
    )
    large = io.BytesIO()
    Image.new("RGB", (2400, 1800), (200, 150, 130)).save(large, "JPEG", quality=92)
    photos += (Photo("photo-4.jpg", large.getvalue(), 2400, 1800),)  # printed reduced
    case = replace(request(0, *photos), urgent=True, summary="Ulcère de jambe, fond fibrineux.")
    advice = Opinion(case.case_id, "Compression.", outcome="consultation", review_weeks=3)
    document = report_document(thread(case, (EXPERT, advice)), [], "Dr Claire Bernard")
    text = document.toPlainText()
    for expected in (
        "Compte rendu de télé-expertise",
        "Patient P-0147",
        "Demande urgente",
        "Ulcère de jambe, fond fibrineux.",
        "Question posée",
        "Photo 1 — Localisation : membre inférieur gauche",
        "Photo 3",
        "Pr B",
        "Compression.",
        "Conduite à tenir : Consultation à l’hôpital à programmer",
        "À revoir dans 3 semaine(s)",
        "Imprimé par Dr Claire Bernard le ",
    ):
        assert expected in text, expected
    assert text.count("Photos") == 1  # the facts under the pictures, not again above
    for n, photo in enumerate(photos, 1):  # each photo's picture, reduced if it is large
        image = document.resource(QTextDocument.ResourceType.ImageResource, QUrl(f"photo-{n}"))
        assert isinstance(image, QImage)
        assert not image.isNull()
        long_edge = max(photo.width, photo.height)
        assert max(image.width(), image.height()) == min(PHOTO_PX, long_edge)

    path = tmp_path / "report.pdf"
    document.print_(pdf_printer(path))
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.count(b"/Subtype /Image") >= 4  # the photos are in it
    image = QImage()
    assert image.loadFromData(photos[0].data)


@pytest.mark.qt_log_ignore("QPainter::begin")  # the printer that refuses
def test_printing_from_the_workspace_is_journalled_without_clinical_content(
    qtbot: QtBot, demo_env: DemoEnv, tmp_path: Path
) -> None:
    unit, hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-8")
    specialist.cases.setCurrentRow(0)
    write_opinion(specialist, "Kératose séborrhéique.", "on_site")
    specialist.send_opinion()
    qtbot.waitUntil(lambda: any(t.opinions for t in doctor.cases.threads), timeout=WAIT)
    doctor.cases.setCurrentRow(0)
    assert doctor.view.print_button.isVisible()
    doctor.print_report(pdf_printer(tmp_path / "doctor.pdf"))
    # laid out and printed on the pool: meanwhile the window answers, the button waits
    assert doctor.notice.text() == "Impression du compte rendu…"
    assert not doctor.view.print_button.isEnabled()
    assert not doctor.printing.start(doctor.cases.threads[0], [], pdf_printer(tmp_path / "2.pdf"))
    qtbot.waitUntil(lambda: doctor.notice.text() == "Compte rendu imprimé.", timeout=WAIT)
    assert doctor.view.print_button.isEnabled()
    assert (tmp_path / "doctor.pdf").read_bytes().startswith(b"%PDF-")
    assert not (tmp_path / "2.pdf").exists()  # one printing at a time
    specialist.print_report(pdf_printer(tmp_path / "specialist.pdf"))
    qtbot.waitUntil(lambda: specialist.notice.text() == "Compte rendu imprimé.", timeout=WAIT)
    assert (tmp_path / "specialist.pdf").read_bytes().startswith(b"%PDF-")
    specialist.print_report(pdf_printer(tmp_path / "missing" / "specialist.pdf"))
    refused = "Le compte rendu n’a pas été imprimé : l’imprimante l’a refusé."
    qtbot.waitUntil(lambda: specialist.notice.text() == refused, timeout=WAIT)
    assert specialist.view.print_button.isEnabled()

    bundle_id = doctor.cases.threads[0].case.bundle_id
    for window in (unit, hospital):
        assert window.session is not None
        journal = window.session.profile.audit_path
        printed = [e for e in audit.read(journal) if e.event == "report_printed"]
        assert [e.details["bundle_id"] for e in printed] == [bundle_id]
        assert "Kératose" not in journal.read_text("utf-8")
        assert "P-8" not in journal.read_text("utf-8")


def test_qt_own_dialogs_speak_the_interface_language(qapp) -> None:  # type: ignore[no-untyped-def]
    assert QCoreApplication.translate("QPrintDialog", "Print") == "Print"
    assert install_qt_translations(qapp, "en") is False  # Qt's own language
    assert install_qt_translations(qapp, "fr") is True
    try:
        assert QCoreApplication.translate("QPrintDialog", "Print") == "Imprimer"
        assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Annuler"
    finally:  # the other tests keep Qt in English
        for translator in qapp.findChildren(QTranslator):
            qapp.removeTranslator(translator)
            translator.deleteLater()
    assert QCoreApplication.translate("QPrintDialog", "Print") == "Print"


def test_the_report_of_a_withdrawn_request_says_so(qtbot: QtBot) -> None:
    case = request(0)
    made = thread(case)
    data = pack_withdrawal("w-1", made.case.bundle_id, case.case_id, "released", DOCTOR, [EXPERT])
    bundle = unpack(
        data, signer_fingerprint=DOCTOR.fingerprint, reader_fingerprint=EXPERT.fingerprint
    )
    withdrawn = replace(made, withdrawal=Opened("w-1", DOCTOR, case.created_at, bundle))
    text = report_document(withdrawn, [], "Dr Claire Bernard").toPlainText()
    assert "Pas encore d’avis." in text
    assert "Demande retirée : patient libéré ou transféré" in text
    assert "retirée" not in report_document(made, [], "Dr Claire Bernard").toPlainText()
