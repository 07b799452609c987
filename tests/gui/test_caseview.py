"""The case list and the case view: searching, and keeping the reader's place while the
lists refresh."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from pytestqt.qtbot import QtBot

import resources
from capture.photo import Arrow
from tests.core.test_followup import EXPERT, request, thread
from tests.support.photos import sample_photo
from widgets.caselist import CaseList
from widgets.caseview import CaseView
from widgets.overlay import ANNOTATION_COLOUR
from widgets.photos import THUMB, PhotoStrip
from widgets.specialist import describe_for_specialist


def test_a_refresh_of_the_case_shown_keeps_the_viewer_open_and_the_text_where_it_was(
    qtbot: QtBot,
) -> None:
    photos = [
        sample_photo(path, f"photo-{n}.jpg")
        for n, path in enumerate(resources.sample_photos()[:2], 1)
    ]
    long_summary = "\n".join(f"Ligne {n} du résumé clinique." for n in range(200))
    case = replace(request(0, *photos), summary=long_summary)
    other = request(3, photos[0])
    view = CaseView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    view.show_thread(thread(case))
    qtbot.wait(50)
    bar = view.text.verticalScrollBar()
    assert bar.maximum() > 100  # the text scrolls
    bar.setValue(bar.maximum() // 2)
    viewer = view.photos.open_photo(0)
    qtbot.waitExposed(viewer)
    viewer.show_row(1)

    # the lists refresh when the queue or the inbox moves: the same case is shown again,
    # from a fresh opening of the same bundle
    view.show_thread(thread(case))
    qtbot.wait(50)
    assert view.photos.viewer is viewer
    assert viewer.isVisible()
    assert viewer.row == 1
    assert bar.value() == bar.maximum() // 2

    # another case: its own photos, from the top; the viewer of the first one is closed
    view.show_thread(thread(other))
    qtbot.waitUntil(lambda: view.photos.viewer is None, timeout=2000)
    assert not viewer.isVisible()
    assert bar.value() == 0


def test_the_case_list_filters_by_patient_specialty_or_date_accents_aside(qtbot: QtBot) -> None:
    ulcer = request(0)  # P-0147, wounds, 12/10
    later = request(14)  # P-0147, wounds, 26/10
    liver = replace(request(3, patient="P-0999"), specialty="hepato_gastroenterology")
    threads = [thread(c) for c in (later, liver, ulcer)]
    cases = CaseList(describe_for_specialist, "Demandes reçues")  # no patient in its lines
    qtbot.addWidget(cases)
    cases.search.show()
    cases.show()
    cases.set_threads(threads, select_first=True)
    assert cases.shown() == 3

    def visible() -> list[str]:
        return [t.case_id for row, t in enumerate(cases.threads) if not cases.item(row).isHidden()]

    cases.search.setText("p-0147")  # the patient reference, whatever the case
    assert visible() == [later.case_id, ulcer.case_id]
    cases.search.setText("hepato")  # "Hépato-gastro-entérologie", accents aside
    assert visible() == [liver.case_id]
    cases.search.setText("26/10")
    assert visible() == [later.case_id]
    cases.set_threads([thread(c) for c in (later, liver, ulcer)])  # a refresh keeps the filter
    assert visible() == [later.case_id]
    assert cases.current_thread() is not None  # and the case shown
    assert cases.current_thread().case_id == later.case_id  # type: ignore[union-attr]
    cases.search.setFocus()
    qtbot.keyClick(cases.search, Qt.Key.Key_Escape)
    assert cases.search.text() == ""
    assert cases.shown() == 3


def orange_pixels(pixmap: QPixmap) -> int:
    image = pixmap.toImage()
    return sum(
        image.pixelColor(x, y).name() == ANNOTATION_COLOUR.name()
        for y in range(image.height())
        for x in range(image.width())
    )


@pytest.mark.qt_log_ignore("Corrupt JPEG data", "JPEG datastream contains no image")
def test_thumbnails_come_from_the_background_with_the_annotations_drawn(qtbot: QtBot) -> None:
    plain = sample_photo(resources.sample_photos()[0], "photo-1.jpg")
    w, h = plain.width, plain.height
    arrow = Arrow((w * 0.1, h * 0.5), (w * 0.9, h * 0.5))  # across the photo
    annotated = replace(plain, name="photo-2.jpg", annotations=(arrow.to_dict(),))
    broken = replace(plain, name="photo-3.jpg", payload=b"\xff\xd8 not a photo")
    strip = PhotoStrip()
    qtbot.addWidget(strip)
    strip.show()
    strip.set_photos([plain, annotated, broken])
    assert strip.count() == 3  # listed at once...
    assert not strip.thumbnails_ready()  # ...the pictures are decoded off the GUI thread
    qtbot.waitUntil(strip.thumbnails_ready, timeout=10_000)
    thumbs = [strip.thumbnail_of(p) for p in (plain, annotated, broken)]
    assert None not in thumbs
    assert max(thumbs[0].width(), thumbs[0].height()) == THUMB
    assert orange_pixels(thumbs[0]) == 0
    assert orange_pixels(thumbs[1]) > THUMB // 2  # the arrow, a thumbnail wide
    assert thumbs[2].toImage().pixelColor(5, 5).name() == "#7a2b2b"  # unreadable, said so

    viewer = strip.open_photo(1)  # at once: the thumbnail, stretched, until decoded
    assert not viewer.picture.loaded
    assert viewer.picture.image.width() == thumbs[1].width()
    assert viewer.picture.size_px == (w, h)  # the geometry is the photo's from the start
    qtbot.waitUntil(lambda: viewer.picture.loaded, timeout=10_000)
    assert (viewer.picture.image.width(), viewer.picture.image.height()) == (w, h)
    viewer.show_row(2)
    qtbot.waitUntil(lambda: viewer.picture.loaded, timeout=10_000)
    assert viewer.picture.image.isNull()  # "Cette photo ne peut pas être lue."
    viewer.close()

    strip.set_photos([plain, annotated, broken])  # the same photos: nothing is redone
    assert strip.thumbnails_ready()
    strip.set_photos([annotated])
    qtbot.waitUntil(strip.thumbnails_ready, timeout=10_000)
    assert strip.item(0).text() == "Photo 1"


def test_the_case_list_tells_what_arrived_since_the_last_refresh(qtbot: QtBot) -> None:
    first, second = request(0), request(3)
    cases = CaseList(describe_for_specialist, "Demandes reçues")
    qtbot.addWidget(cases)
    assert cases.set_threads([thread(first)], select_first=True) == []  # the first listing
    assert cases.set_threads([thread(first)]) == []  # nothing new
    answered, new = thread(first, (EXPERT, "Compression.")), thread(second)
    arrived = cases.set_threads([new, answered])
    assert [(t.case_id, o.bundle_id) for t, o in arrived] == [
        (second.case_id, new.case.bundle_id),
        (first.case_id, answered.opinions[0].bundle_id),
    ]
    cases.mark_new(t.case_id for t, _o in arrived)
    assert cases.is_new(second.case_id)
    assert not cases.is_new(first.case_id)  # open now: not news to the reader
    cases.set_threads([thread(second), thread(first, (EXPERT, "Compression."))])  # refresh
    assert cases.item(0).font().bold()  # still new until opened
    cases.setCurrentRow(0)
    assert not cases.is_new(second.case_id)
    assert not cases.item(0).font().bold()
