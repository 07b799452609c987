"""The signed PDF/A report for the records, made from the window on both sides; Ctrl+P
prints those same pages; each report written is journalled without clinical content."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from app import i18n
from cases.profile import Profile
from cases.teleexpertise_report import check_report
from crypto import audit
from tests.gui.test_end_to_end import WAIT, write_opinion
from tests.gui.test_opinions import requests_sent
from tests.gui.test_report import pdf_printer
from tests.support.demo import DemoEnv
from tests.support.tools import require_tool

OPINION = "Kératose séborrhéique, abstention."


def text_of(path: Path) -> str:
    require_tool("pdftotext")
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pages(path: Path) -> int:
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        return len(document)
    finally:
        document.close()


def difference(a: Path, b: Path) -> float:
    """The mean difference (0-255) of the first pages, in grey at 200 by 283 pixels."""
    import pypdfium2
    from PIL import ImageChops, ImageStat

    def first(path: Path) -> Any:
        document = pypdfium2.PdfDocument(str(path))
        try:
            image = document[0].render(scale=0.5).to_pil().convert("L")
        finally:
            document.close()
        return image.resize((200, 283))

    return float(ImageStat.Stat(ImageChops.difference(first(a), first(b))).mean[0])


def page_picture(path: Path) -> QLabel:
    """The PDF's first page in a label (for the screenshots)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        image = document[0].render(scale=1.1).to_pil().convert("RGB")
    finally:
        document.close()
    raw = image.tobytes()
    picture = QImage(raw, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888)
    label = QLabel()
    label.setPixmap(QPixmap.fromImage(picture.copy()))
    label.resize(picture.size())
    return label


def test_both_sides_make_the_signed_report_and_print_the_same_pages(
    qtbot: QtBot,
    demo_env: DemoEnv,
    tmp_path: Path,
    screenshot: Callable[[QWidget, str], Path],
) -> None:
    unit, hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-31")
    specialist.cases.setCurrentRow(0)
    assert not specialist.view.records_button.isVisible()  # not answered yet
    write_opinion(specialist, OPINION, "on_site")
    specialist.send_opinion()
    qtbot.waitUntil(lambda: specialist.view.records_button.isVisible(), timeout=WAIT)

    # the specialist: the author signs
    mine = tmp_path / "cr.pdf"
    specialist.save_report(mine)
    assert not specialist.view.records_button.isEnabled()  # made on the pool, one at a time
    qtbot.waitUntil(lambda: "enregistré" in specialist.notice.text(), timeout=WAIT)
    assert specialist.view.records_button.isEnabled()
    hospital_roots = Profile(demo_env.layout.hospital).trust_roots()
    check = check_report(mine.read_bytes(), hospital_roots)
    assert check.verdict == "author"
    assert check.signer is not None
    assert check.signer.signer.display_name == "Pr Marc Dubois"
    assert OPINION in text_of(mine)

    # the doctor: a copy, signed by the doctor, the opinion attached as signed
    qtbot.waitUntil(lambda: any(t.opinions for t in doctor.cases.threads), timeout=WAIT)
    doctor.cases.setCurrentRow(0)
    assert doctor.view.records_button.isVisible()
    screenshot(unit, "doctor-records-report-fr")
    copy = tmp_path / "copie.pdf"
    doctor.save_report(copy)
    qtbot.waitUntil(lambda: "enregistré" in doctor.notice.text(), timeout=WAIT)
    check = check_report(copy.read_bytes(), Profile(demo_env.layout.unit).trust_roots())
    screenshot(page_picture(mine), "records-report-page")  # the first page, as filed
    assert check.verdict == "copy"
    assert [o.author.display_name for o in check.opinions if o.author] == ["Pr Marc Dubois"]

    # the hospital's record system: a drop folder, never a file overwritten
    drop = tmp_path / "dpi"
    drop.mkdir()
    settings = QSettings(
        str(Path(demo_env.layout.unit) / "reports.ini"), QSettings.Format.IniFormat
    )
    settings.setValue("records/drop_folder", str(drop))
    settings.sync()
    for n in (1, 2):
        doctor.save_report()
        qtbot.waitUntil(lambda n=n: len(list(drop.glob("*.pdf"))) == n, timeout=WAIT)  # type: ignore[misc]
        qtbot.waitUntil(lambda: doctor.view.records_button.isEnabled(), timeout=WAIT)
    assert all(p.name.startswith("compte-rendu-") for p in drop.iterdir())
    assert "P-31" not in " ".join(p.name for p in drop.iterdir())

    # Ctrl+P prints the same pages
    printed = tmp_path / "printed.pdf"
    doctor.print_report(pdf_printer(printed))
    qtbot.waitUntil(lambda: doctor.notice.text() == "Compte rendu imprimé.", timeout=WAIT)
    assert pages(printed) == pages(copy)
    assert difference(printed, copy) < 6.0  # the same pages (printed as pictures of them)
    assert difference(printed, mine) > difference(printed, copy)  # not the author's

    # journalled: ids, sizes and codes, never the clinical text
    for window, count in ((hospital, 1), (unit, 3)):
        assert window.session is not None
        journal = window.session.profile.audit_path
        made = [e for e in audit.read(journal) if e.event == "report_made"]
        assert len(made) == count
        assert {e.details["code"] for e in made} <= {"file", "drop_folder"}
        assert "Kératose" not in journal.read_text("utf-8")
        assert "P-31" not in journal.read_text("utf-8")

    # the button in English
    i18n.set_language("en")
    try:
        from widgets.caseview import CaseView

        view = CaseView()
        qtbot.addWidget(view)
        view.show_thread(doctor.cases.threads[0])
        assert view.records_button.text() == "PDF report…"
        view.resize(960, 600)
        screenshot(view, "doctor-records-report-en")
    finally:
        i18n.set_language("fr")
