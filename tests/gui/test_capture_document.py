"""The capture station's document mode (issue 17 §1), offscreen, with the demo video
standing in for the camera: pages of a paper result, no face search, one document in the
request's list (a JPEG, or a PDF of the pages), read by the specialist like any other.

The attacker here is the station itself in a hurry: a shot of the patient taken in the wrong
mode. A shot keeps the mode it was taken in, the mode says faces are not blurred, and only
an explicit "Joindre le document" turns pages into a document.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PySide6.QtCore import QDate, QSettings, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app import i18n
from app.tasks import TaskRunner
from capture.documents import MAX_PAGES
from capture.loading import LoadedImage
from cases.documents import MAX_DOCUMENTS
from tests.gui.fit import fit
from tests.gui.test_capture_close import button, prompt
from tests.gui.test_end_to_end import WAIT, send_request
from tests.gui.test_follow_up_request import doctor_with_a_complete_request
from tests.gui.test_opinions import specialist_in
from tests.gui.test_small_screens import SCREENS
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from tests.support.tools import require_tool
from widgets.capture import CaptureStation
from widgets.capture_document import DOCUMENT, PHOTO
from widgets.documents import DocumentList

# what exiftool may report of what the station makes: structure, never a tag about the shot
ALLOWED = {"ExifTool", "System", "File", "JFIF", "ICC-header", "ICC_Profile", "ICC-chrm"}
ALLOWED |= {"Composite", "PDF"}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo video (a face, a marker, a wound): what a camera in the wrong mode sees."""
    from widgets.capture_demo import write_demo_video

    return write_demo_video(tmp_path_factory.mktemp("video") / "demo.avi", frames=20)


@pytest.fixture
def station(qtbot: QtBot, tmp_path: Path) -> Iterator[CaptureStation]:
    runner = TaskRunner()
    settings = QSettings(str(tmp_path / "capture.ini"), QSettings.Format.IniFormat)
    documents = DocumentList()
    qtbot.addWidget(documents)
    widget = CaptureStation(runner, settings, documents=documents)
    qtbot.addWidget(widget)
    widget.show()
    widget.resize(1500, 950)
    yield widget
    if widget.close_prompt is not None:
        widget.close_prompt.done(0)
    widget._discard_agreed = True
    widget.done(0)
    runner.shutdown()


def start(qtbot: QtBot, station: CaptureStation, video: Path) -> None:
    station.start_video(video)
    qtbot.waitUntil(lambda: station.view.painted >= 3, timeout=WAIT)


def paper(lines: int, size: tuple[int, int] = (1200, 900)) -> np.ndarray:
    """A BGR frame of a sheet of paper with ``lines`` dark bars of text."""
    width, height = size
    sheet = np.full((height, width, 3), 232, np.uint8)
    for n in range(lines):
        sheet[50 + n * 40 : 64 + n * 40, 60 : width - 60] = 25
    return sheet


def keep_pages(qtbot: QtBot, station: CaptureStation, *frames: np.ndarray) -> None:
    for frame in frames:
        station.keep_page(LoadedImage.from_frame(frame))
    qtbot.waitUntil(lambda: len(station.page_copies) == len(station.pages), timeout=WAIT)


def target(station: CaptureStation) -> DocumentList:
    assert station.documents is not None
    return station.documents


def attach(qtbot: QtBot, station: CaptureStation, count: int) -> None:
    """Ctrl+Entrée in document mode; waits for the form to hold ``count`` documents."""
    qtbot.keyClick(station, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not station._making_document, timeout=WAIT)
    qtbot.waitUntil(lambda: len(target(station).documents()) == count, timeout=WAIT)


def exif_groups(tool: str, path: Path) -> set[str]:
    done = subprocess.run(
        [tool, "-j", "-a", "-G1", "-u", str(path)], capture_output=True, check=True, timeout=60
    )
    return {key.split(":")[0] for key in json.loads(done.stdout)[0] if ":" in key}


# --- the mode ------------------------------------------------------------------------------


def test_document_mode_says_faces_are_not_blurred_and_a_page_skips_the_face_search(
    qtbot: QtBot, station: CaptureStation, video: Path
) -> None:
    start(qtbot, station, video)
    assert not station.mode_warning.isVisible()
    qtbot.keyClick(station, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert station.mode == DOCUMENT
    assert station.document_mode_button.isChecked()
    # said beside the switch, above the page and on the status line
    assert station.mode_warning.isVisible()
    assert "NON floutés" in station.mode_warning.text()
    assert station.page_pane.warning.isVisible()
    assert "jamais le patient" in station.page_pane.warning.text()
    assert "pas floutées" in station.message.text()
    assert station.capture_button.text() == "Capturer une page (Espace)"
    assert not station.retake_button.isVisible()
    assert station.strips.currentWidget() is station.page_strip
    qtbot.keyClick(station, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(station.pages) == 1, timeout=WAIT)
    [page] = station.pages
    qtbot.waitUntil(lambda: page.id in station.page_copies, timeout=WAIT)
    assert page.regions is None  # no face sought: the demo's face is there, unblurred
    assert len(station.strip) == 0
    assert "non flouté" in station.page_strip.item(0).text()
    assert "1 page(s)" in station.page_pane.count.text()
    qtbot.keyClick(station, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert station.mode == PHOTO
    assert not station.mode_warning.isVisible()
    assert station.panes.currentWidget() is station.panel
    assert len(station.pages) == 1  # the page waits in its own strip


def test_a_shot_keeps_the_mode_it_was_taken_in(
    qtbot: QtBot, station: CaptureStation, video: Path
) -> None:
    start(qtbot, station, video)
    # a photo of the patient, then the doctor switches to document mode
    qtbot.keyClick(station, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(station.strip) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: all(p.regions is not None for p in station.strip), timeout=30_000)
    station.set_mode(DOCUMENT)
    attach_clicked = len(target(station).documents())
    qtbot.keyClick(station, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "Aucune page" in station.message.text()
    assert len(target(station).documents()) == attach_clicked == 0  # never a "document"
    [photo] = station.strip
    assert photo.regions is not None
    assert not photo.regions.confirmed  # still to review
    # a page taken in document mode stays a page when the mode changes before it is kept
    qtbot.keyClick(station, Qt.Key.Key_Space)
    station.set_mode(PHOTO)
    qtbot.waitUntil(lambda: len(station.pages) == 1, timeout=WAIT)
    assert len(station.strip) == 1
    # and Ctrl+Entrée in photo mode hands over photos only: the unconfirmed one waits
    station.add_to_request()
    assert "confirm" in station.message.text().lower()
    assert len(target(station).documents()) == 0
    assert len(station.pages) == 1


# --- the document --------------------------------------------------------------------------


def test_pages_become_one_pdf_in_the_form_in_their_order_without_metadata(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path
) -> None:
    exiftool = require_tool("exiftool")
    station.set_mode(DOCUMENT)
    keep_pages(qtbot, station, paper(4, (1200, 900)), paper(8, (900, 1200)), paper(2))
    # the doctor puts the portrait page first and drops the third
    station.page_strip.setCurrentRow(1)
    qtbot.keyClick(station, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    station.page_strip.setCurrentRow(2)
    station.delete_selected()
    assert len(station.pages) == 2
    pane = station.page_pane
    pane.kind.setCurrentIndex(pane.kind.findData("ecg"))
    pane.when.setDate(QDate(2026, 11, 28))
    pane.title.setText("ECG de repos")
    attach(qtbot, station, 1)
    [document] = target(station).documents()
    assert document.name == "document-1.pdf"
    assert (document.kind, document.date, document.title) == (
        "ecg",
        dt.date(2026, 11, 28),
        "ECG de repos",
    )
    assert document.pages == 2
    assert len(station.pages) == 0  # joined: the strip is empty, the fields are new
    assert pane.title.text() == ""
    assert "Document joint" in station.message.text()
    assert station.isVisible()  # the next document may follow
    out = tmp_path / document.name
    out.write_bytes(document.data)
    assert exif_groups(exiftool, out) <= ALLOWED
    with pikepdf.open(out) as pdf:
        boxes = [[float(v) for v in page.MediaBox] for page in pdf.pages]
        assert boxes[0][3] > boxes[0][2]  # the portrait page first, as reordered
        assert boxes[1][2] > boxes[1][3]
        for number, page in enumerate(pdf.pages):
            [image] = page.Resources.XObject.values()
            jpeg = tmp_path / f"page-{number}.jpg"
            jpeg.write_bytes(image.read_raw_bytes())
            assert exif_groups(exiftool, jpeg) <= ALLOWED


def test_one_page_from_the_camera_is_a_jpeg_without_metadata(
    qtbot: QtBot, station: CaptureStation, video: Path, tmp_path: Path
) -> None:
    exiftool = require_tool("exiftool")
    start(qtbot, station, video)
    station.set_mode(DOCUMENT)
    station.capture_button.click()
    qtbot.waitUntil(lambda: len(station.pages) == 1, timeout=WAIT)
    attach(qtbot, station, 1)
    [document] = target(station).documents()
    assert document.name == "document-1.jpg"
    out = tmp_path / document.name
    out.write_bytes(document.data)
    assert exif_groups(exiftool, out) <= ALLOWED


def test_a_full_request_keeps_the_pages_and_says_why(qtbot: QtBot, station: CaptureStation) -> None:
    from capture.documents import PreparedDocument

    documents = target(station)
    for _n in range(MAX_DOCUMENTS):
        filler = PreparedDocument("jpg", b"\xff\xd8\xff" + bytes(64), 1, ())
        assert documents.add_prepared(filler, kind="autre", when=dt.date.today(), title="") == ""
    station.set_mode(DOCUMENT)
    keep_pages(qtbot, station, paper(3))
    qtbot.keyClick(station, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert f"Au plus {MAX_DOCUMENTS} documents" in station.message.text()
    assert len(station.pages) == 1  # nothing lost
    assert len(documents.documents()) == MAX_DOCUMENTS


def test_a_document_has_at_most_max_pages(qtbot: QtBot, station: CaptureStation) -> None:
    station.set_mode(DOCUMENT)
    small = paper(1, (160, 120))
    keep_pages(qtbot, station, *([small] * MAX_PAGES))
    assert station.keep_page(LoadedImage.from_frame(small)) is None
    assert len(station.pages) == MAX_PAGES
    assert f"Au plus {MAX_PAGES} pages" in station.message.text()


# --- closing -------------------------------------------------------------------------------


def test_closing_with_pages_asks_and_escape_does_not_throw_them_away(
    qtbot: QtBot, station: CaptureStation
) -> None:
    station.set_mode(DOCUMENT)
    keep_pages(qtbot, station, paper(3), paper(5))
    qtbot.keyClick(station, Qt.Key.Key_Escape)
    box = prompt(qtbot, station)
    assert "2 page(s) de document" in box.text()
    # Enter attaches them (tests/gui/test_capture_close_document.py), never throws them
    assert box.defaultButton() is button(box, "Joindre le document")
    assert box.escapeButton() is button(box, "Continuer")
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: station.close_prompt is None, timeout=WAIT)
    assert station.isVisible()
    assert len(station.pages) == 2
    finished: list[int] = []
    station.finished.connect(finished.append)
    station.reject()
    button(prompt(qtbot, station), "Jeter les 2 page(s)").click()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: finished == [0], timeout=WAIT)


def test_photos_handed_over_leave_the_station_open_while_pages_wait(
    qtbot: QtBot, station: CaptureStation
) -> None:
    from cases.photos import Photo
    from tests.gui.test_capture_close import keep_frame, wound

    photo_id = keep_frame(qtbot, station, wound(7))
    [photo] = station.strip
    assert photo.id == photo_id
    assert photo.regions is not None
    photo.regions.confirm()
    station.set_mode(DOCUMENT)
    keep_pages(qtbot, station, paper(4))
    station.set_mode(PHOTO)
    handed: list[list[Photo]] = []
    station.photos_ready.connect(handed.append)
    qtbot.keyClick(station, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(handed) == 1, timeout=WAIT)
    assert len(handed[0]) == 1
    assert len(target(station).documents()) == 0  # the page did not go with the photos
    qtbot.wait(200)
    assert station.isVisible()  # a photo strip emptied does not close over a waiting page
    assert len(station.pages) == 1


# --- the request, and the specialist ---------------------------------------------------------


def test_the_pages_travel_as_a_document_the_specialist_reads(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    hospital = open_window(qtbot, demo_env.layout.hospital)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    station = doctor.open_capture()
    qtbot.waitUntil(station.isVisible, timeout=WAIT)
    assert station.document_mode_button.isVisible()
    station.document_mode_button.click()
    keep_pages(qtbot, station, paper(6), paper(9))
    station.page_pane.kind.setCurrentIndex(station.page_pane.kind.findData("biologie"))
    station.page_pane.title.setText("NFS photographiée")
    station.add_button.click()
    qtbot.waitUntil(lambda: len(doctor.form.documents.documents()) == 1, timeout=WAIT)
    station.close()  # nothing kept: closes at once
    qtbot.waitUntil(lambda: doctor.capture_station is None, timeout=WAIT)
    assert "NFS photographiée" in doctor.form.documents.list.item(0).text()
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    specialist = specialist_in(qtbot, hospital)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    documents = specialist.view.documents
    assert documents.list.count() == 1
    assert "NFS photographiée" in documents.list.item(0).text()
    window = documents.open_document(0)
    assert window is not None
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.pdf.pages == 2, timeout=WAIT)
    window.close()


# --- the screens ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_document_mode_fits_small_screens(
    qtbot: QtBot,
    tmp_path: Path,
    language: str,
    screenshot,  # type: ignore[no-untyped-def]
) -> None:
    i18n.set_language(language)
    runner = TaskRunner()
    try:
        documents = DocumentList()
        qtbot.addWidget(documents)
        station = CaptureStation(
            runner,
            QSettings(str(tmp_path / "capture.ini"), QSettings.Format.IniFormat),
            documents=documents,
        )
        qtbot.addWidget(station)
        station.show()
        station.set_mode(DOCUMENT)
        keep_pages(qtbot, station, paper(12, (900, 1200)), paper(6))
        station.page_strip.setCurrentRow(0)
        station.page_pane.title.setText("NFS, ionogramme")
        problems = []
        for name, size in SCREENS.items():
            problems += [f"[{language} {name}] {p}" for p in fit(station, size)]
            QApplication.processEvents()
            screenshot(station, f"capture-document-{language}-{name}")
        assert problems == []
        station._discard_agreed = True
        station.done(0)
    finally:
        i18n.set_language("fr")
        runner.shutdown()
