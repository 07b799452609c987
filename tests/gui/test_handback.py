"""Worker threads hand results back to widgets through app/handback.py: on the GUI thread,
and never to a widget deleted meanwhile (emitting a widget's own signal from a worker while
the GUI thread deletes it crashed the whole test run once: a segmentation fault in the
photo strip's thumbnail worker)."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.handback import hand_back
from tests.gui.test_viewer import photo
from widgets.photos import PhotoStrip


def test_a_result_reaches_a_live_widget_on_the_gui_thread(qtbot: QtBot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    seen: list[str] = []
    worker = threading.Thread(
        target=lambda: hand_back(widget, lambda: seen.append(threading.current_thread().name))
    )
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: seen != [], timeout=5000)
    assert seen == [threading.main_thread().name]


def test_a_result_for_a_deleted_widget_is_dropped(qtbot: QtBot) -> None:
    gone = QObject()
    calls: list[int] = []
    released = threading.Event()

    def work() -> None:
        released.wait(5)
        hand_back(gone, lambda: calls.append(1))

    worker = threading.Thread(target=work)
    worker.start()
    shiboken6.delete(gone)  # deleted on the GUI thread while the worker still works
    released.set()
    worker.join()
    alive = QWidget()
    qtbot.addWidget(alive)
    hand_back(alive, lambda: calls.append(2))
    qtbot.waitUntil(lambda: 2 in calls, timeout=5000)
    assert calls == [2]  # the dead widget's call never ran, the live one's did


def test_strips_deleted_while_their_thumbnails_are_made_do_not_crash(qtbot: QtBot) -> None:
    """Many strips, each deleted right after it asked for thumbnails: the worker finishes
    them after the strip is gone. The process must live and the last strip get its own."""
    photos = [photo(f"photo-{n}.jpg", (1200, 800)) for n in range(4)]
    for _ in range(12):
        strip = PhotoStrip()
        strip.add_photos(list(photos))
        strip.deleteLater()
        QApplication.processEvents()
    last = PhotoStrip()
    qtbot.addWidget(last)
    last.add_photos(list(photos))
    qtbot.waitUntil(last.thumbnails_ready, timeout=60_000)
    assert all(not last.thumbnail_of(p).isNull() for p in photos)  # type: ignore[union-attr]
