"""The case view while the lists refresh under it: the reader keeps their place."""

from __future__ import annotations

from dataclasses import replace

from pytestqt.qtbot import QtBot

import resources
from tests.core.test_followup import request, thread
from tests.support.photos import sample_photo
from widgets.caseview import CaseView


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
