"""The capture station's close question hands over what it can: pages kept become the
document the station's own "Joindre le document à la demande" makes, confirmed photos join
the request, and the station closes once nothing is left in it.

The attacker here is the hurry at the end of a consultation: Enter pressed on the question
must never throw a page or a photo away, Escape stays, a full request keeps the pages and
says why, and a photo whose anonymisation is not confirmed never leaves with the others.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app import i18n
from app.tasks import TaskRunner
from cases.documents import MAX_DOCUMENTS
from cases.photos import Photo
from tests.gui.fit import fit, misfits
from tests.gui.test_capture_close import button, keep_frame, prompt, wound
from tests.gui.test_capture_document import keep_pages, paper, target
from tests.gui.test_end_to_end import WAIT
from widgets.capture import CaptureStation
from widgets.capture_document import DOCUMENT, PHOTO
from widgets.documents import DocumentList


@pytest.fixture
def station(qtbot: QtBot, tmp_path: Path) -> Iterator[CaptureStation]:
    runner = TaskRunner()
    settings = QSettings(str(tmp_path / "capture.ini"), QSettings.Format.IniFormat)
    documents = DocumentList()
    qtbot.addWidget(documents)
    widget = CaptureStation(runner, settings, documents=documents)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    if widget.close_prompt is not None:
        widget.close_prompt.done(0)
    widget._discard_agreed = True
    widget.done(0)
    runner.shutdown()


def confirmed(qtbot: QtBot, station: CaptureStation, seed: int) -> str:
    """A photo kept, its anonymisation confirmed by the doctor."""
    photo_id = keep_frame(qtbot, station, wound(seed))
    for photo in station.strip:
        if photo.id == photo_id:
            assert photo.regions is not None
            photo.regions.confirm()
    return photo_id


def pages(qtbot: QtBot, station: CaptureStation, *lines: int, title: str = "NFS") -> None:
    station.set_mode(DOCUMENT)
    keep_pages(qtbot, station, *(paper(n) for n in lines))
    station.page_pane.title.setText(title)
    station.set_mode(PHOTO)  # the question hands the pages over whatever the mode


def closed(station: CaptureStation) -> list[int]:
    finished: list[int] = []
    station.finished.connect(finished.append)
    return finished


def test_pages_only_enter_attaches_the_document_then_the_station_closes(
    qtbot: QtBot, station: CaptureStation
) -> None:
    pages(qtbot, station, 3, 5)
    finished = closed(station)
    qtbot.keyClick(station, Qt.Key.Key_Escape)
    box = prompt(qtbot, station)
    assert "2 page(s) de document" in box.text()
    assert "photo" not in box.text()
    today = dt.date.today().strftime("%d/%m/%Y")
    # Enter attaches with the pane's description: the question says which, before
    said = f"Le document sera joint ainsi : Biologie — {today} — « NFS »."
    assert box.informativeText().startswith(said)
    assert "Modifier…" in box.informativeText()
    attach = button(box, "Joindre le document")
    assert box.defaultButton() is attach  # Enter hands the pages over, never throws them
    assert box.escapeButton() is button(box, "Continuer")
    button(box, "Jeter les 2 page(s)")  # still there, explicit
    qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: finished == [1], timeout=WAIT)
    [document] = target(station).documents()
    assert (document.name, document.title, document.pages) == ("document-1.pdf", "NFS", 2)
    assert (document.kind, document.date) == ("biologie", dt.date.today())
    with pikepdf.open(io.BytesIO(document.data)) as pdf:
        assert len(pdf.pages) == 2
    assert len(station.pages) == 0
    assert not station.isVisible()


def test_escape_on_the_question_keeps_the_pages_and_the_station(
    qtbot: QtBot, station: CaptureStation
) -> None:
    pages(qtbot, station, 3)
    station.reject()
    box = prompt(qtbot, station)
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: station.close_prompt is None, timeout=WAIT)
    qtbot.wait(100)
    assert station.isVisible()
    assert len(station.pages) == 1
    assert target(station).documents() == ()


def test_a_full_request_keeps_the_pages_and_the_station_and_says_why(
    qtbot: QtBot, station: CaptureStation
) -> None:
    from capture.documents import PreparedDocument

    documents = target(station)
    for _n in range(MAX_DOCUMENTS):
        filler = PreparedDocument("jpg", b"\xff\xd8\xff" + bytes(64), 1, ())
        assert documents.add_prepared(filler, kind="autre", when=dt.date.today(), title="") == ""
    pages(qtbot, station, 4)
    finished = closed(station)
    station.reject()
    button(prompt(qtbot, station), "Joindre le document").click()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: station.close_prompt is None, timeout=WAIT)
    assert f"Au plus {MAX_DOCUMENTS} documents" in station.message.text()
    qtbot.wait(100)
    assert finished == []
    assert station.isVisible()
    assert len(station.pages) == 1  # nothing lost
    assert len(documents.documents()) == MAX_DOCUMENTS


def test_photos_only_the_question_adds_the_confirmed_ones_and_closes(
    qtbot: QtBot, station: CaptureStation
) -> None:
    confirmed(qtbot, station, 11)
    confirmed(qtbot, station, 12)
    handed: list[list[Photo]] = []
    station.photos_ready.connect(handed.append)
    finished = closed(station)
    station.reject()
    box = prompt(qtbot, station)
    assert "2 photo(s) prise(s)" in box.text()
    assert "page" not in box.text()
    assert [b for b in box.buttons() if b.text() == "Joindre le document"] == []
    add = button(box, "Ajouter les 2 photo(s) confirmée(s)")
    assert box.defaultButton() is add
    qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: finished == [1], timeout=WAIT)
    assert [len(batch) for batch in handed] == [2]
    assert target(station).documents() == ()


def test_photos_and_pages_the_question_says_both_and_hands_both_over(
    qtbot: QtBot, station: CaptureStation
) -> None:
    confirmed(qtbot, station, 13)
    pages(qtbot, station, 2, 6, 3)
    handed: list[list[Photo]] = []
    station.photos_ready.connect(handed.append)
    finished = closed(station)
    station.close()  # the window's cross asks as Fermer does
    box = prompt(qtbot, station)
    assert "1 photo(s) prise(s)" in box.text()
    assert "3 page(s) de document" in box.text()
    both = button(box, "Ajouter les 1 photo(s) confirmée(s) et joindre le document")
    assert box.defaultButton() is both
    assert box.escapeButton() is button(box, "Continuer")
    assert box.defaultButton() is not button(box, "Jeter les 1 photo(s) et les 3 page(s)")
    both.click()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: finished == [1], timeout=WAIT)
    assert [len(batch) for batch in handed] == [1]
    [document] = target(station).documents()
    assert document.pages == 3
    assert (len(station.strip), len(station.pages)) == (0, 0)


def test_an_unconfirmed_photo_stays_while_the_pages_go_and_the_station_says_so(
    qtbot: QtBot, station: CaptureStation
) -> None:
    confirmed(qtbot, station, 14)
    keep_frame(qtbot, station, wound(15))  # its anonymisation not confirmed
    pages(qtbot, station, 5)
    handed: list[list[Photo]] = []
    station.photos_ready.connect(handed.append)
    finished = closed(station)
    station.reject()
    box = prompt(qtbot, station)
    assert "2 photo(s) prise(s)" in box.text()
    button(box, "Ajouter les 1 photo(s) confirmée(s) et joindre le document").click()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(handed) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: not station._busy(), timeout=WAIT)
    assert len(target(station).documents()) == 1
    assert len(handed[0]) == 1  # never the unconfirmed one
    [left] = station.strip
    assert left.regions is not None
    assert not left.regions.confirmed
    qtbot.wait(100)
    assert finished == []
    assert station.isVisible()
    assert "Photo 1" in station.message.text()  # named, as the strip shows it now


def test_only_unconfirmed_photos_and_pages_attach_the_document_and_stay(
    qtbot: QtBot, station: CaptureStation
) -> None:
    keep_frame(qtbot, station, wound(16))  # not confirmed
    pages(qtbot, station, 2)
    finished = closed(station)
    station.reject()
    box = prompt(qtbot, station)
    assert [b.text() for b in box.buttons() if b.text().startswith("Ajouter")] == []
    button(box, "Joindre le document").click()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(target(station).documents()) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: "Photo 1" in station.message.text(), timeout=WAIT)
    assert "Document joint" in station.message.text()
    qtbot.wait(100)
    assert finished == []
    assert len(station.strip) == 1


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_question_with_pages_fits_and_reads_in_both_languages(
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
        confirmed(qtbot, station, 17)
        pages(qtbot, station, 3, 7, title="")
        assert fit(station, QSize(1280, 660)) == []
        station.reject()
        box = prompt(qtbot, station)
        for _round in range(3):
            QApplication.processEvents()
        expected = {
            "fr": "Ajouter les 1 photo(s) confirmée(s) et joindre le document",
            "en": "Add the 1 confirmed photo(s) and attach the document",
        }[language]
        assert box.defaultButton().text() == expected
        described = {  # an empty title: said as such, in the interface's language
            "fr": "Le document sera joint ainsi : Biologie — ",
            "en": "The document will be attached as: Lab results — ",
        }[language]
        untitled = {"fr": "— sans titre.", "en": "— untitled."}[language]
        assert box.informativeText().startswith(described)
        assert untitled in box.informativeText()
        assert misfits(box, box.size()) == []
        assert box.width() <= 1280
        screenshot(station, f"capture-close-document-station-{language}")
        screenshot(box, f"capture-close-document-question-{language}")
        box.done(0)
        station._discard_agreed = True
        station.done(0)
    finally:
        i18n.set_language("fr")
        runner.shutdown()
