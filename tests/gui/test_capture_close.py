"""Closing the capture station never throws kept photos away without a word (issue 16 §2).

For a patient who has left the room, a shot cannot be taken again: Fermer, Escape and the
window's cross ask first, and the photos go only on an explicit "Jeter".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.tasks import TaskRunner
from capture.loading import LoadedImage
from cases.photos import Photo
from tests.gui.test_end_to_end import WAIT
from widgets.capture import CaptureStation


@pytest.fixture
def station(qtbot: QtBot, tmp_path: Path) -> Iterator[CaptureStation]:
    runner = TaskRunner()
    settings = QSettings(str(tmp_path / "capture.ini"), QSettings.Format.IniFormat)
    widget = CaptureStation(runner, settings)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    if widget.close_prompt is not None:
        widget.close_prompt.done(0)
    widget.done(0)
    runner.shutdown()


def keep_frame(qtbot: QtBot, station: CaptureStation, frame: np.ndarray) -> str:
    photo = station.keep(LoadedImage.from_frame(frame))
    qtbot.waitUntil(lambda: all(p.regions is not None for p in station.strip), timeout=20_000)
    return photo.id


def wound(seed: int) -> np.ndarray:
    """A face-free frame: nothing for the detector to find."""
    rng = np.random.default_rng(seed)
    frame = np.full((480, 640, 3), (140, 150, 190), np.uint8)
    frame[180:300, 250:400] = (40, 40, 150)
    noise = rng.integers(0, 12, frame.shape, dtype=np.uint8)
    return np.asarray(frame + noise, dtype=np.uint8)


def prompt(qtbot: QtBot, station: CaptureStation) -> QMessageBox:
    qtbot.waitUntil(lambda: station.close_prompt is not None, timeout=WAIT)
    box = station.close_prompt
    assert box is not None
    return box


def answer_close(qtbot: QtBot, station: CaptureStation, start: str) -> None:
    """Click the close question's button whose text starts with ``start``."""
    box = prompt(qtbot, station)
    button(box, start).click()  # type: ignore[attr-defined]


def button(box: QMessageBox, start: str) -> object:
    found = [b for b in box.buttons() if b.text().startswith(start)]
    assert len(found) == 1, [b.text() for b in box.buttons()]
    return found[0]


@pytest.mark.parametrize("how", ["fermer", "escape", "cross"])
def test_every_way_of_closing_asks_and_staying_keeps_the_photos(
    qtbot: QtBot, station: CaptureStation, how: str
) -> None:
    keep_frame(qtbot, station, wound(1))
    keep_frame(qtbot, station, wound(2))
    if how == "fermer":
        qtbot.mouseClick(station.close_button, Qt.MouseButton.LeftButton)
    elif how == "escape":
        qtbot.keyClick(station, Qt.Key.Key_Escape)
    else:
        station.close()
    box = prompt(qtbot, station)
    assert "2 photo(s)" in box.text()
    assert station.isVisible()
    # Escape on the question is "Continuer la prise", never "Jeter"
    assert box.escapeButton() is button(box, "Continuer")
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: station.close_prompt is None, timeout=WAIT)
    assert station.isVisible()
    assert len(station.strip) == 2


def test_throwing_away_needs_the_explicit_button(qtbot: QtBot, station: CaptureStation) -> None:
    keep_frame(qtbot, station, wound(3))
    finished: list[int] = []
    station.finished.connect(finished.append)
    station.reject()
    box = prompt(qtbot, station)
    discard = button(box, "Jeter")
    assert box.defaultButton() is not discard  # Enter does not throw photos away
    discard.click()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: finished == [0], timeout=WAIT)
    assert not station.isVisible()


def test_confirmed_photos_can_be_added_from_the_question(
    qtbot: QtBot, station: CaptureStation
) -> None:
    first = keep_frame(qtbot, station, wound(4))
    keep_frame(qtbot, station, wound(5))  # not confirmed: stays in the station
    for photo in station.strip:
        if photo.id == first:
            assert photo.regions is not None
            photo.regions.confirm()
    handed: list[list[Photo]] = []
    station.photos_ready.connect(handed.append)
    station.reject()
    box = prompt(qtbot, station)
    add = button(box, "Ajouter les 1")
    assert box.defaultButton() is add
    add.click()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(handed) == 1, timeout=WAIT)
    assert len(handed[0]) == 1
    assert len(station.strip) == 1  # the unconfirmed one is still there, and so is the window
    assert station.isVisible()


def test_an_empty_station_closes_at_once(qtbot: QtBot, station: CaptureStation) -> None:
    finished: list[int] = []
    station.finished.connect(finished.append)
    qtbot.mouseClick(station.close_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: finished == [0], timeout=WAIT)
    assert station.close_prompt is None
