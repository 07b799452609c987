"""The report for the records from the window: the specialist's marks on the printed
pages, and the time-stamp asked of the workstation's authority (or said to be missing).

The authority is OpenSSL's (``tests.support.tsa``) on 127.0.0.1; the workstation names it
in its ``reports.ini``. The doctor's workspace, its notice saying what came of the
time-stamp, is rendered in French and in English at both screen sizes and must fit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

import resources
from app import i18n
from capture.photo import Arrow, Circle
from cases.marks import PhotoMarks
from cases.profile import Profile
from cases.teleexpertise_report import check_report
from crypto import audit
from tests.gui.fit import fit
from tests.gui.test_end_to_end import WAIT, add_photos, send_request, write_opinion
from tests.gui.test_follow_up_request import doctor_with_a_complete_request
from tests.gui.test_opinions import specialist_in
from tests.gui.test_report import pdf_printer
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv
from tests.support.tsa import running_tsa, tsa_pki, unreachable_url

SCREENS = {"1280x720": QSize(1280, 660), "960x1040": QSize(956, 1000)}


def specialist_pixels(path: Path) -> int:
    """How many pixels of the specialist's blue (#64d2ff) the PDF's pages show."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        total = 0
        for n in range(len(document)):
            image = np.asarray(document[n].render(scale=2).to_pil().convert("RGB"))
            close = np.abs(image.astype(np.int32) - np.array([100, 210, 255])) <= 40
            total += int(np.all(close, axis=2).sum())
        return total
    finally:
        document.close()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_marks_printed_and_the_time_stamp_said(
    qtbot: QtBot,
    demo_env: DemoEnv,
    tmp_path: Path,
    screenshot: Callable[[QWidget, str], Path],
    language: str,
) -> None:
    tsa = tsa_pki(tmp_path / "tsa")
    i18n.set_language(language)
    try:
        unit = open_window(qtbot, demo_env.layout.unit)
        hospital = open_window(qtbot, demo_env.layout.hospital)
        doctor = doctor_with_a_complete_request(qtbot, unit)
        fill_complete_case(doctor)
        add_photos(qtbot, doctor, resources.sample_photos()[:1], kept=1)
        send_request(doctor.form)
        qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
        specialist = specialist_in(qtbot, hospital)
        qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
        specialist.cases.setCurrentRow(0)
        assert specialist.shown is not None
        case = specialist.shown.case.bundle.case
        assert case is not None
        name = case.photos[0].name
        write_opinion(specialist, "Ulcère veineux.", "on_site")
        arrow = Arrow((40.0, 40.0), (200.0, 160.0)).to_dict()
        circle = Circle((300.0, 200.0), 60.0).to_dict()
        specialist.form.set_marks((PhotoMarks(name, (), (arrow, circle)),))
        specialist.send_opinion()
        qtbot.waitUntil(lambda: specialist.view.records_button.isVisible(), timeout=WAIT)

        # the specialist's workstation names a live authority and trusts its root
        hospital_ini = Path(demo_env.layout.hospital) / "reports.ini"
        with running_tsa(tsa.folder) as url:
            hospital_ini.write_text(f"[timestamp]\nurl = {url}\nca = {tsa.ca_path}\n")
            mine = tmp_path / "cr.pdf"
            specialist.save_report(mine)
            qtbot.waitUntil(lambda: specialist.view.records_button.isEnabled(), timeout=WAIT)
        said = specialist.notice.text()
        assert mine.is_file(), said
        assert ("Horodaté par" if language == "fr" else "Time-stamped by") in said
        check = check_report(
            mine.read_bytes(), Profile(demo_env.layout.hospital).trust_roots(), (), [tsa.ca]
        )
        assert check.verdict == "author"
        assert check.signatures[0].timestamp is not None
        assert check.signatures[0].timestamp.trusted
        assert specialist_pixels(mine) > 200  # the marks, in the file

        # the doctor's names one that does not answer: the copy is made all the same
        (Path(demo_env.layout.unit) / "reports.ini").write_text(
            f"[timestamp]\nurl = {unreachable_url()}\n"
        )
        qtbot.waitUntil(lambda: any(t.opinions for t in doctor.cases.threads), timeout=WAIT)
        doctor.cases.setCurrentRow(0)
        copy = tmp_path / "copie.pdf"
        doctor.save_report(copy)
        qtbot.waitUntil(lambda: doctor.view.records_button.isEnabled(), timeout=WAIT)
        qtbot.waitUntil(lambda: copy.is_file(), timeout=WAIT)
        said = doctor.notice.text()
        assert ("Horodatage absent" if language == "fr" else "No time-stamp") in said
        check = check_report(copy.read_bytes(), Profile(demo_env.layout.unit).trust_roots())
        assert check.verdict == "copy"
        assert check.signatures[0].timestamp is None
        made = [
            e.details["status"]
            for e in audit.read(Profile(demo_env.layout.unit).audit_path)
            if e.event == "report_made"
        ]
        assert made == ["tsa_unreachable"]

        # the notice fits, at both screen sizes
        for screen, size in SCREENS.items():
            problems = fit(unit, size)
            assert not problems, problems
            assert doctor.notice.text() == said
            screenshot(unit, f"doctor-report-timestamp-{screen}-{language}")
        # Ctrl+P prints those pages, the marks on them
        printed = tmp_path / "printed.pdf"
        doctor.print_report(pdf_printer(printed))
        qtbot.waitUntil(lambda: printed.is_file() and doctor.view.print_button.isEnabled(),
                        timeout=WAIT)  # fmt: skip
        assert specialist_pixels(printed) > 200

    finally:
        i18n.set_language("fr")
