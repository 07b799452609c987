"""The capture station's watched folder never follows a link (issue 15): a link dropped in
the folder is left out with a plain sentence, and a photo's file swapped for a link before
the hand-over is not wiped through it (the file outside keeps its bytes)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from app.tasks import TaskRunner
from tests.gui.test_capture import ANALYSIS_WAIT, analysed, hand_over
from tests.gui.test_end_to_end import WAIT
from tests.support import scenes
from widgets.capture import CaptureStation

LEFT_OUT = (
    "Fichier laissé de côté : ce n’est pas une simple photo du dossier surveillé "
    "(lien vers un autre emplacement, fichier à plusieurs noms ou fichier spécial)."
)


@pytest.fixture
def station(qtbot: QtBot, tmp_path: Path) -> Iterator[CaptureStation]:
    runner = TaskRunner()
    settings = QSettings(str(tmp_path / "capture.ini"), QSettings.Format.IniFormat)
    widget = CaptureStation(runner, settings)
    qtbot.addWidget(widget)
    widget.show()
    widget.resize(1500, 950)
    yield widget
    widget.done(0)
    runner.shutdown()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A photo outside the watched folder, that a link in the folder points to."""
    secret = tmp_path / "ailleurs" / "autre-patient.jpg"
    secret.parent.mkdir()
    secret.write_bytes(scenes.encode_jpeg(scenes.skin_scene(320, 240, seed=7)))
    return secret


def watch(station: CaptureStation, folder: Path) -> None:
    station.sources.choose("folder")
    station.sources.folder.setText(str(folder))
    station.start_source()


def test_a_link_in_the_folder_is_left_out_with_a_sentence(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path, outside: Path
) -> None:
    folder = tmp_path / "appareil"
    folder.mkdir()
    kept_bytes = outside.read_bytes()
    (folder / "IMG_0000.JPG").symlink_to(outside)  # there before the folder is watched
    watch(station, folder)
    assert station.message.text() == f"IMG_0000.JPG : {LEFT_OUT}"
    assert not station.existing_button.isVisibleTo(station)  # nothing to offer

    dropped = folder / "IMG_0001.JPG"
    dropped.write_bytes(scenes.encode_jpeg(scenes.skin_scene(320, 240, seed=1)))
    (folder / "IMG_0002.JPG").symlink_to(outside)
    qtbot.waitUntil(lambda: len(station.strip) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: "IMG_0002.JPG" in station.message.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: not station.progress.isVisibleTo(station), timeout=WAIT)
    assert station.message.text() == (  # both are still there, and were left out
        f"IMG_0000.JPG : {LEFT_OUT}\nIMG_0002.JPG : {LEFT_OUT}"
    )
    assert [photo.source for photo in station.strip] == [dropped]

    qtbot.waitUntil(lambda: analysed(station), timeout=ANALYSIS_WAIT)
    station.kept.setCurrentRow(0)
    station.panel.confirm()
    assert len(hand_over(qtbot, station)) == 1
    qtbot.waitUntil(lambda: not dropped.exists(), timeout=WAIT)
    assert outside.read_bytes() == kept_bytes
    assert (folder / "IMG_0000.JPG").is_symlink()
    assert (folder / "IMG_0002.JPG").is_symlink()


def test_a_photo_swapped_for_a_link_before_the_hand_over_is_not_wiped_through_it(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path, outside: Path
) -> None:
    folder = tmp_path / "appareil"
    folder.mkdir()
    kept_bytes = outside.read_bytes()
    watch(station, folder)
    dropped = folder / "IMG_0003.JPG"
    dropped.write_bytes(scenes.encode_jpeg(scenes.skin_scene(320, 240, seed=3)))
    qtbot.waitUntil(lambda: len(station.strip) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: analysed(station), timeout=ANALYSIS_WAIT)
    station.stop_source()  # no more polling: only the wipe meets the link
    swap = folder / "swap"
    swap.symlink_to(outside)
    os.replace(swap, dropped)
    station.kept.setCurrentRow(0)
    station.panel.confirm()
    assert len(hand_over(qtbot, station)) == 1
    qtbot.waitUntil(lambda: "IMG_0003.JPG" in station.message.text(), timeout=WAIT)
    assert "n’a pas pu être effacé" in station.message.text()
    assert station.isVisible()  # stays open: a file resisted
    assert outside.read_bytes() == kept_bytes
    assert dropped.is_symlink()
