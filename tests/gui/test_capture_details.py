"""The capture station's smaller promises (issue 16, §5): the length tool takes two clicks
or a drag, "Confirmer l'anonymisation" stays put after a measurement, the strip's
thumbnail is blurred once the anonymisation is confirmed, the body site chosen last is
offered, and a printed ruler calibrates by hand when no marker is in the photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.tasks import TaskRunner
from capture.measure import RULER
from tests.gui.test_capture import click, drag, keep_frame
from tests.support import aruco_scenes, scenes
from widgets.capture import CaptureStation
from widgets.capture_editor import LENGTH
from widgets.capture_editor import RULER as RULER_TOOL
from widgets.capture_strip import THUMB

PX_PER_MM = 7.3


@pytest.fixture
def station(qtbot: QtBot, tmp_path: Path) -> Iterator[CaptureStation]:
    runner = TaskRunner()
    settings = QSettings(str(tmp_path / "capture.ini"), QSettings.Format.IniFormat)
    widget = CaptureStation(runner, settings)
    qtbot.addWidget(widget)
    widget.show()
    widget.resize(1280, 720)  # the small screen
    yield widget
    widget.done(0)
    runner.shutdown()


def ruler_scene() -> tuple[np.ndarray, float, tuple[tuple[float, float], tuple[float, float]]]:
    """A skin scene with a printed ruler along its bottom (a tick each mm, longer every 5
    and 10) and a dark scar 40 mm long: the image, the ruler's zero (x) and the scar's ends."""
    image = scenes.skin_scene(1600, 1200, seed=3)
    top, left = 1040, 150
    cv2.rectangle(
        image, (left - 20, top), (left + int(120 * PX_PER_MM) + 20, top + 90), (245,) * 3, -1
    )
    for mm in range(0, 121):
        x = round(left + mm * PX_PER_MM)
        height = 40 if mm % 10 == 0 else 28 if mm % 5 == 0 else 18
        cv2.line(image, (x, top), (x, top + height), (20, 20, 20), 1)
    start = (500.0, 300.0)
    end = (start[0] + 40 * PX_PER_MM * 0.8, start[1] + 40 * PX_PER_MM * 0.6)  # 40 mm, slanted
    cv2.line(image, tuple(round(v) for v in start), tuple(round(v) for v in end), (40, 30, 90), 5)
    return image, float(left), (start, end)


def test_the_length_tool_measures_with_two_clicks_and_with_a_drag(
    qtbot: QtBot, station: CaptureStation
) -> None:
    scene = aruco_scenes.render()
    keep_frame(qtbot, station, scene.image)
    station.kept.setCurrentRow(0)
    station.panel.tool_buttons[LENGTH].click()
    start_px, end_px = scene.line_px
    click(qtbot, station, start_px)
    click(qtbot, station, end_px)
    canvas = station.canvas
    drag(qtbot, canvas, canvas.to_widget(start_px).toPoint(), canvas.to_widget(end_px).toPoint())
    clicked, dragged = station.measures[station.strip[0].id]
    assert clicked.length == pytest.approx(50.0, rel=0.03)
    assert dragged.length == pytest.approx(50.0, rel=0.03)
    click(qtbot, station, start_px)  # a click alone starts a line: nothing measured yet
    assert len(station.measures[station.strip[0].id]) == 2


def test_confirming_stays_under_the_cursor_after_a_measurement(
    qtbot: QtBot, station: CaptureStation
) -> None:
    scene = aruco_scenes.render(marker=False)  # the longest readout: pixels, and why
    keep_frame(qtbot, station, scene.image)
    station.kept.setCurrentRow(0)
    QApplication.processEvents()
    button = station.panel.confirm_button
    before = button.mapTo(station, QPoint(0, 0))
    station.panel.tool_buttons[LENGTH].click()
    click(qtbot, station, scene.line_px[0])
    click(qtbot, station, scene.line_px[1])
    assert "Aucun marqueur" in station.panel.measure.text()
    QApplication.processEvents()
    assert button.mapTo(station, QPoint(0, 0)) == before
    station.resize(960, 1000)  # half of a 1920-pixel screen: the readout wraps more
    QApplication.processEvents()
    before = button.mapTo(station, QPoint(0, 0))
    station.panel.show_photo(station.strip[0], [], station.canvas.calibration)
    QApplication.processEvents()
    assert not station.panel.measure.text()
    click(qtbot, station, scene.line_px[0])
    click(qtbot, station, scene.line_px[1])
    QApplication.processEvents()
    assert button.mapTo(station, QPoint(0, 0)) == before


def icon_image(station: CaptureStation) -> QImage:
    return station.kept.item(0).icon().pixmap(THUMB, THUMB).toImage()


def difference(a: QImage, b: QImage, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    total = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            ca, cb = a.pixelColor(x, y), b.pixelColor(x, y)
            total += abs(ca.red() - cb.red()) + abs(ca.green() - cb.green())
    return total / max(1, (x1 - x0) * (y1 - y0))


def test_the_strip_thumbnail_is_blurred_once_the_anonymisation_is_confirmed(
    qtbot: QtBot, station: CaptureStation
) -> None:
    frame = scenes.skin_scene(1600, 1200, seed=5)
    frame[200:600, 200:600] = np.where(  # a checkerboard: detail the blur must remove
        (np.indices((400, 400)).sum(0) // 20 % 2 == 0)[..., None], 230, 25
    ).astype(np.uint8)
    keep_frame(qtbot, station, frame)
    station.kept.setCurrentRow(0)
    photo = station.strip[0]
    assert photo.regions is not None
    photo.regions.add_rect(200, 200, 400, 400)  # the doctor marks the area to blur
    station.refresh_strip()
    clear = icon_image(station)
    station.panel.confirm()
    blurred = icon_image(station)
    scale = clear.width() / 1600
    inside = tuple(round(v * scale) for v in (230, 230, 570, 570))
    outside = tuple(round(v * scale) for v in (900, 700, 1500, 1100))
    assert difference(clear, blurred, inside) > 40  # the checkerboard is gone on the strip
    assert difference(clear, blurred, outside) < 2  # the rest untouched
    assert "anonymisation confirmée" in station.kept.item(0).text()


def test_the_body_site_chosen_last_is_offered_for_the_next_photo(
    qtbot: QtBot, station: CaptureStation
) -> None:
    keep_frame(qtbot, station, scenes.skin_scene(640, 480, seed=1))
    station.kept.setCurrentRow(0)
    site = station.panel.site
    index = site.findData("pied_gauche")
    site.setCurrentIndex(index)
    site.activated.emit(index)  # as a choice made with the mouse
    assert station.strip[0].body_site == "pied_gauche"
    keep_frame(qtbot, station, scenes.skin_scene(640, 480, seed=2))
    station.kept.setCurrentRow(1)
    assert station.strip[1].body_site == "pied_gauche"
    assert site.currentData() == "pied_gauche"
    assert "pied gauche" in station.kept.item(1).text()


def test_a_printed_ruler_calibrates_by_hand_when_there_is_no_marker(
    qtbot: QtBot, station: CaptureStation, screenshot
) -> None:  # type: ignore[no-untyped-def]
    image, zero, (start, end) = ruler_scene()
    keep_frame(qtbot, station, image)
    station.kept.setCurrentRow(0)
    panel = station.panel
    assert station.canvas.calibration is None
    assert "Non étalonné" in panel.calibration.text()
    assert panel.tool_buttons[RULER_TOOL].isEnabled()
    panel.ruler_mm.setValue(50.0)
    panel.tool_buttons[RULER_TOOL].click()
    tick_y = 1040 + 10
    click(qtbot, station, (zero, tick_y))  # the doctor clicks the 0 and the 50 mm ticks
    click(qtbot, station, (zero + 50 * PX_PER_MM, tick_y))
    assert station.canvas.calibration is not None
    assert "Étalonné à la main sur une règle : 50,0 mm" in panel.calibration.text()
    panel.tool_buttons[LENGTH].click()
    canvas = station.canvas
    drag(qtbot, canvas, canvas.to_widget(start).toPoint(), canvas.to_widget(end).toPoint())
    [scar] = station.measures[station.strip[0].id]
    assert (scar.calibrated, scar.unit, scar.reason) == (True, "mm", RULER)
    assert scar.length == pytest.approx(40.0, rel=0.03)
    assert "étalonné à la main sur une règle" in panel.measure.text()
    screenshot(station, "capture-ruler")
    station.kept.setCurrentRow(-1)  # selected again later: still calibrated by hand
    station.kept.setCurrentRow(0)
    assert station.canvas.calibration is not None
    assert "Étalonné à la main" in panel.calibration.text()
