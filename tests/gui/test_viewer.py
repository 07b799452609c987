"""The specialist's photo viewer, with real widgets offscreen: wheel zoom around the cursor,
drag to pan, fit and 1:1, the keyboard, the earlier photo of the lesion beside it with
linked zoom, and the specialist's own measurements and annotations."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

import resources
from capture.measure import line_measurement, ruler_calibration
from capture.photo import Arrow
from cases.earlier import earlier_photos
from cases.marks import PhotoMarks, marks_for
from cases.model import Case
from cases.photos import Photo
from tests.support.photos import sample_photo
from widgets.photos import PhotoStrip
from widgets.photoviewer import PhotoViewer
from widgets.viewer import AREA, ARROW, CIRCLE, LENGTH, ZoomCanvas, levels_of

WAIT = 10_000


def photo(name: str = "photo-1.jpg", size: tuple[int, int] = (2400, 1600), **kw: object) -> Photo:
    """A JPEG with a pattern that tells places apart (a colour ramp, a grid)."""
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = x
    rgb[..., 1] = y
    rgb[::100, :, 2] = 255
    rgb[:, ::100, 2] = 255
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=90)
    return Photo(name=name, payload=out.getvalue(), width=width, height=height, **kw)  # type: ignore[arg-type]


def opened(qtbot: QtBot, photos: list[Photo], size: tuple[int, int] = (1000, 700)) -> PhotoViewer:
    viewer = PhotoViewer(photos, 0)
    qtbot.addWidget(viewer)
    viewer.resize(*size)
    viewer.show()
    qtbot.waitExposed(viewer)
    qtbot.waitUntil(lambda: viewer.picture.loaded, timeout=WAIT)
    return viewer


def wheel(widget: QWidget, at: QPointF, notches: float) -> None:
    event = QWheelEvent(
        at,
        widget.mapToGlobal(at),
        QPoint(0, 0),
        QPoint(0, round(120 * notches)),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def drag(qtbot: QtBot, widget: QWidget, start: QPoint, end: QPoint) -> None:
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(widget, start + (end - start) * step / 5)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)


def colour_near(widget: QWidget, at: QPoint, colour: str, reach: int = 2) -> bool:
    """Whether ``colour`` is drawn within ``reach`` pixels of ``at`` (lines are antialiased)."""
    image = widget.grab().toImage()
    return any(
        image.pixelColor(at.x() + dx, at.y() + dy).name() == colour
        for dx in range(-reach, reach + 1)
        for dy in range(-reach, reach + 1)
    )


def blue_pixels(image: QImage) -> int:
    """How many pixels of ``image`` are the specialist's blue."""
    return sum(
        image.pixelColor(x, y).name() == "#64d2ff"
        for y in range(image.height())
        for x in range(image.width())
    )


def test_the_wheel_zooms_around_the_point_under_the_cursor(qtbot: QtBot) -> None:
    viewer = opened(qtbot, [photo()])
    canvas = viewer.picture
    assert canvas.fitted
    at = QPointF(canvas.width() * 0.7, canvas.height() * 0.3)
    before = canvas.to_photo(at)
    wheel(canvas, at, 3)
    assert canvas.scale() == pytest.approx(canvas.fit_scale() * 1.25**3)
    after = canvas.to_photo(at)
    assert after == pytest.approx(before, abs=0.01)  # the same photo point under the cursor
    corner = canvas.to_photo(QPointF(20, 20))
    wheel(canvas, QPointF(20, 20), -1)  # out again, around another point
    assert canvas.to_photo(QPointF(20, 20)) == pytest.approx(corner, abs=0.01)
    assert canvas.scale() == pytest.approx(canvas.fit_scale() * 1.25**2)
    # what is drawn there is that point of the photo: the ramp's colour at it
    x, y = canvas.to_photo(at)
    drawn = canvas.grab().toImage().pixelColor(at.toPoint())
    assert drawn.red() == pytest.approx(x / 2400 * 255, abs=14)
    assert drawn.green() == pytest.approx(y / 1600 * 255, abs=14)


def test_a_drag_pans_and_f_and_1_fit_or_show_at_100(qtbot: QtBot) -> None:
    viewer = opened(qtbot, [photo()])
    canvas = viewer.picture
    qtbot.keyClick(viewer, Qt.Key.Key_1)
    assert canvas.scale() == pytest.approx(1.0)
    centre = QPointF(canvas.width() / 2, canvas.height() / 2)
    before = canvas.to_photo(centre)
    drag(qtbot, canvas, QPoint(500, 400), QPoint(380, 330))  # the photo follows the hand
    after = canvas.to_photo(centre)
    assert after == pytest.approx((before[0] + 120, before[1] + 70), abs=1.0)
    qtbot.keyClick(canvas, Qt.Key.Key_Left)  # the arrows pan too
    assert canvas.to_photo(centre)[0] < after[0]
    qtbot.keyClick(viewer, Qt.Key.Key_F)
    assert canvas.fitted
    assert canvas.target().width() <= canvas.width() + 0.5
    assert canvas.target().height() <= canvas.height() + 0.5
    fitted = canvas.scale()
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    assert canvas.scale() == pytest.approx(fitted * 1.25)
    qtbot.keyClick(viewer, Qt.Key.Key_Minus)
    assert canvas.scale() == pytest.approx(fitted)


def test_a_large_photo_is_drawn_from_a_smaller_copy_made_off_the_gui_thread(
    qtbot: QtBot,
) -> None:
    big = photo(size=(6000, 4000))
    canvas = ZoomCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(900, 600)
    canvas.show()
    canvas.show_photo((big.width, big.height), lambda: big.data)
    assert not canvas.loaded  # decoding goes on in the background
    qtbot.waitUntil(lambda: canvas.loaded, timeout=WAIT)
    assert [round(f, 4) for _image, f in canvas.levels] == [1.0, 0.5, 0.25, 0.125]
    level = canvas._level()
    assert level is not None
    assert level[1] == 0.25  # fitted at 0.15: the quarter-size copy has the pixels it needs
    canvas.set_view(2.0)
    level = canvas._level()
    assert level is not None
    assert level[1] == 1.0
    assert len(levels_of(canvas.image)) == 4


def lesion(
    days_before: int, site: str = "membre_inferieur_gauche", taken: Photo | None = None
) -> Case:
    base = Case(
        patient_ref="P-0147",
        consent=True,
        specialty="wounds",
        summary="",
        treatments="",
        question="?",
    )
    return replace(
        base,
        created_at=base.created_at - timedelta(days=days_before),
        photos=(replace(taken, site=site) if taken else photo(site=site),),
    )


def test_the_earlier_photo_of_the_lesion_is_beside_it_with_linked_zoom_and_pan(
    qtbot: QtBot, screenshot
) -> None:  # type: ignore[no-untyped-def]
    first, second = (
        sample_photo(path, "photo-1.jpg") for path in resources.sample_photos()[2:4]
    )  # the same leg wound, four weeks apart
    earlier, now = lesion(28, taken=first), lesion(0, taken=second)
    strip = PhotoStrip()
    qtbot.addWidget(strip)
    strip.set_photos(list(now.photos))
    strip.set_context(earlier_photos(now, [earlier, now]), [])
    w, h = now.photos[0].width, now.photos[0].height
    own = PhotoMarks(
        "photo-1.jpg",
        (line_measurement(None, (w * 0.4, h * 0.45), (w * 0.62, h * 0.5)).to_dict(),),
        (Arrow((w * 0.8, h * 0.2), (w * 0.6, h * 0.38)).to_dict(),),
    )
    strip.set_own_marks((own,), True)  # the specialist answering: the tools are there
    viewer = strip.open_photo(0)
    viewer.resize(1280, 720)
    qtbot.waitUntil(lambda: viewer.picture.loaded, timeout=WAIT)
    assert viewer.compare_button.isEnabled()
    qtbot.keyClick(viewer, Qt.Key.Key_C)  # one key, or one click
    assert viewer.compare.isVisible()
    assert viewer.compare.choice.currentText().startswith("Demande du ")
    other = viewer.compare.canvas
    qtbot.waitUntil(lambda: other.loaded, timeout=WAIT)
    left = viewer.picture
    wheel(left, QPointF(left.width() * 0.25, left.height() * 0.6), 4)
    zoom, fx, fy = left.relative_view()
    assert zoom is not None
    assert zoom > 2
    assert other.relative_view() == pytest.approx((zoom, fx, fy))
    drag(qtbot, other, QPoint(200, 200), QPoint(260, 240))  # the other way round too
    assert left.relative_view() == pytest.approx(other.relative_view())
    qtbot.keyClick(viewer, Qt.Key.Key_F)  # both fitted again
    assert left.fitted
    assert other.fitted
    left.zoom_at(1.6, left.to_widget((w * 0.5, h * 0.45)))
    screenshot(viewer, "viewer-compare")


def test_the_length_tool_takes_two_clicks_or_a_drag_and_marks_stay_apart(
    qtbot: QtBot,
) -> None:
    viewer = opened(qtbot, [photo()])
    edits: list[tuple[PhotoMarks, ...]] = []
    viewer.marks_edited.connect(edits.append)
    viewer.set_context([], [], (), editable=True)
    assert viewer.tools.isVisible()
    qtbot.waitUntil(lambda: viewer.picture.analysis_done, timeout=WAIT)
    canvas = viewer.picture
    viewer.tools.choose(LENGTH)

    def at(x: float, y: float) -> QPoint:
        return canvas.to_widget((x, y)).toPoint()

    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at(400, 400))
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at(1000, 400))
    drag(qtbot, canvas, at(400, 800), at(400, 1400))
    mine = marks_for(viewer.own, "photo-1.jpg")
    lengths = [m["length"] for m in mine.measurements]
    assert lengths == pytest.approx([600, 600], abs=600 * 0.01 + 1 / canvas.scale())
    assert [m["unit"] for m in mine.measurements] == ["px", "px"]  # no marker, no ruler
    viewer.tools.text.setText("bord décollé")
    viewer.tools.choose(ARROW)
    drag(qtbot, canvas, at(1800, 300), at(1500, 600))
    viewer.tools.choose(CIRCLE)
    drag(qtbot, canvas, at(1200, 1000), at(1300, 1000))
    viewer.tools.choose(AREA)
    for x, y in ((1600, 1100), (2000, 1100), (2000, 1400)):
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at(x, y))
    qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=at(1600, 1400))
    mine = marks_for(viewer.own, "photo-1.jpg")
    assert [m["kind"] for m in mine.measurements] == ["line", "line", "polygon"]
    assert mine.measurements[2]["area"] == pytest.approx(400 * 300, rel=0.03)
    assert [a["kind"] for a in mine.annotations] == ["arrow", "text", "circle", "text"]
    assert mine.annotations[1]["text"] == "bord décollé"
    assert edits[-1] == viewer.own
    assert "Vos marques (en bleu) :" in viewer.facts.text()
    # drawn in the specialist's blue, over the photo (not into it)
    arrow_mid = at(1650, 450)
    assert colour_near(canvas, arrow_mid, "#64d2ff")
    viewer.tools.undo.click()
    assert len(marks_for(viewer.own, "photo-1.jpg").measurements) == 2


def test_with_the_doctors_ruler_line_the_specialist_measures_in_mm(qtbot: QtBot) -> None:
    ruler = ruler_calibration((100.0, 1500.0), (180.0, 1500.0), 10.0)  # 8 px a mm

    doctors = line_measurement(ruler, (100.0, 1500.0), (180.0, 1500.0)).to_dict()
    viewer = opened(qtbot, [photo(measurements=(doctors,))])
    viewer.set_context([], [], (), editable=True)
    qtbot.waitUntil(lambda: viewer.picture.analysis_done, timeout=WAIT)
    assert "règle" in viewer.scale_note.text()
    viewer.tools.choose(LENGTH)
    canvas = viewer.picture
    start, end = canvas.to_widget((400, 400)).toPoint(), canvas.to_widget((800, 400)).toPoint()
    drag(qtbot, canvas, start, end)
    [m] = marks_for(viewer.own, "photo-1.jpg").measurements
    assert (m["unit"], m["reason"]) == ("mm", "ruler")
    assert m["length"] == pytest.approx(50.0, rel=0.02)


def test_the_case_view_puts_the_earlier_photos_one_click_away_and_says_of_the_marks(
    qtbot: QtBot,
) -> None:
    from cases.model import Opinion
    from tests.core.test_followup import EXPERT, thread
    from widgets.caseview import CaseView

    earlier, now = lesion(28), lesion(0)
    marks = (PhotoMarks("photo-1.jpg", (), (Arrow((100.0, 100.0), (600.0, 500.0)).to_dict(),)),)
    answered = thread(now, (EXPERT, Opinion(now.case_id, "Avis.", outcome="on_site", marks=marks)))
    view = CaseView()
    qtbot.addWidget(view)
    view.resize(960, 700)
    view.show()
    view.show_thread(answered, others=[thread(earlier), answered])
    button = view.photos.earlier_button
    assert button.isVisible()
    assert button.text() == "Comparer aux photos antérieures (1)"
    assert "1 annotation(s) sur les photos" in view.opinions.toPlainText()
    qtbot.waitUntil(view.photos.thumbnails_ready, timeout=WAIT)
    icon = view.photos.thumbnail_of(view.photos.photos()[0])
    assert icon is not None
    assert blue_pixels(icon.toImage()) > 20  # the specialist's arrow on the thumbnail too
    viewer = view.photos.open_compared()  # the button's click
    assert viewer is not None
    qtbot.waitUntil(lambda: viewer.picture.loaded, timeout=WAIT)
    assert viewer.compare.isVisible()
    assert not viewer.tools.isVisible()  # the reader of the opinion does not draw
    assert f"Marques de {EXPERT.display_name} (en bleu) :" in viewer.facts.text()
    at = viewer.picture.to_widget((350.0, 300.0)).toPoint()
    assert colour_near(viewer.picture, at, "#64d2ff")
    view.show_thread(thread(earlier), others=[thread(earlier), answered])  # the oldest: none
    assert not button.isVisible()
    qtbot.waitUntil(view.photos.thumbnails_ready, timeout=WAIT)
    bare = view.photos.thumbnail_of(view.photos.photos()[0])
    assert bare is not None
    assert blue_pixels(bare.toImage()) < 5  # no opinion, no marks


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_viewer_with_its_tools_and_the_earlier_photo_fits_small_screens(
    qtbot: QtBot, language: str
) -> None:
    from app import i18n
    from tests.gui.fit import fit

    i18n.set_language(language)
    try:
        earlier, now = lesion(28), lesion(0)
        strip = PhotoStrip()
        qtbot.addWidget(strip)
        strip.set_photos(list(now.photos))
        strip.set_context(earlier_photos(now, [earlier, now]), [])
        strip.set_own_marks((), True)
        viewer = strip.open_compared()
        assert viewer is not None
        viewer.tools.text.setText("bord décollé")
        qtbot.waitUntil(lambda: viewer.picture.analysis_done, timeout=WAIT)
        for size in (QSize(1280, 720), QSize(960, 1000)):
            assert fit(viewer, size) == []
    finally:
        i18n.set_language("fr")
